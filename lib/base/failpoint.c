#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "failpoint.h"
#include "log.h"
#include "mem.h"

#ifdef ENVCTL_FAILPOINTS

enum fp_action { FP_OFF, FP_ERROR, FP_ABORT, FP_EXIT };

struct failpoint {
	char		*name;
	enum fp_action	 action;
	unsigned long	 nth;		/* 0: every hit */
	unsigned long	 hits;
};

static pthread_mutex_t	 fp_lock = PTHREAD_MUTEX_INITIALIZER;
static struct failpoint	*fp_set;
static size_t		 fp_count;
static int		 fp_loaded;

static void
fp_clear(void)
{
	size_t i;

	for (i = 0; i < fp_count; i++)
		free(fp_set[i].name);
	free(fp_set);
	fp_set = NULL;
	fp_count = 0;
}

static int
fp_parse_one(struct failpoint *fp, const char *item)
{
	const char *eq = strchr(item, '='), *act;
	char *end;

	if (eq == NULL || eq == item) {
		err_set("failpoint '%s': expected name=action", item);
		return ERR_INVALID;
	}
	memset(fp, 0, sizeof(*fp));
	act = eq + 1;
	if (strchr(act, '*') != NULL) {
		fp->nth = strtoul(act, &end, 10);
		if (*end != '*' || fp->nth == 0) {
			err_set("failpoint '%s': bad count", item);
			return ERR_INVALID;
		}
		act = end + 1;
	}
	if (strcmp(act, "error") == 0)
		fp->action = FP_ERROR;
	else if (strcmp(act, "abort") == 0)
		fp->action = FP_ABORT;
	else if (strcmp(act, "exit") == 0)
		fp->action = FP_EXIT;
	else if (strcmp(act, "off") == 0)
		fp->action = FP_OFF;
	else {
		err_set("failpoint '%s': unknown action '%s'", item, act);
		return ERR_INVALID;
	}
	fp->name = xstrndup(item, (size_t)(eq - item));
	return 0;
}

static int
fp_configure_locked(const char *spec)
{
	char *copy, *item, *save = NULL;
	int error = 0;

	fp_clear();
	fp_loaded = 1;
	if (spec == NULL || *spec == '\0')
		return 0;
	copy = xstrdup(spec);
	for (item = strtok_r(copy, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		struct failpoint fp;

		if ((error = fp_parse_one(&fp, item)) < 0)
			break;
		fp_set = xreallocarray(fp_set, fp_count + 1, sizeof(*fp_set));
		fp_set[fp_count++] = fp;
	}
	free(copy);
	if (error < 0)
		fp_clear();
	return error;
}

int
failpoint_configure(const char *spec)
{
	int error;

	pthread_mutex_lock(&fp_lock);
	error = fp_configure_locked(spec);
	pthread_mutex_unlock(&fp_lock);
	return error;
}

int
failpoint_eval(const char *name)
{
	enum fp_action action = FP_OFF;
	size_t i;

	pthread_mutex_lock(&fp_lock);
	if (!fp_loaded && fp_configure_locked(getenv("ENVCTL_FAILPOINTS")) < 0)
		log_warnx("ENVCTL_FAILPOINTS ignored: %s", err_get());
	for (i = 0; i < fp_count; i++) {
		if (strcmp(fp_set[i].name, name) != 0)
			continue;
		fp_set[i].hits++;
		if (fp_set[i].nth == 0 || fp_set[i].nth == fp_set[i].hits)
			action = fp_set[i].action;
	}
	pthread_mutex_unlock(&fp_lock);

	switch (action) {
	case FP_OFF:
		return 0;
	case FP_ERROR:
		err_set("failpoint %s fired", name);
		return ERR_FAILPOINT;
	case FP_ABORT:
		log_warnx("failpoint %s: aborting", name);
		abort();
	case FP_EXIT:
		log_warnx("failpoint %s: exiting", name);
		_exit(70);
	}
	return 0;
}

#endif /* ENVCTL_FAILPOINTS */
