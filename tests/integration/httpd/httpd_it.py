#!/usr/bin/env python3
"""httpd_it.py SCENARIO HTTPD_DEMO - lib/metrics + lib/httpd end to end.

Scenarios:
  promtool          promtool check metrics accepts the rendered registry
                    (and rejects a broken copy, so the check can fail)
  promparse         tests/harness/promparse.py parses it; values and escapes
                    read back as they were set
  promparse_reject  promparse.py refuses documents that break the format
  curl              the served endpoints through curl: status codes, HEAD,
                    POST, /metrics equal to the rendered registry, the JSON
                    APIs, 100 parallel requests
  chromium          the status page in headless Chromium: a screenshot that
                    is not blank, and in the DOM the hostile names are text,
                    with no injected elements

Servers are started here on 127.0.0.1 and stopped by pid, pass or fail.
Exit 77 (ctest skip) when a needed tool is not installed.
"""
import html.parser
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("ENVCTL_SRC", os.path.abspath(os.path.join(HERE, "../../..")))
PROMPARSE = os.path.join(SRC, "tests/harness/promparse.py")
SKIP = 77

HOSTILE = "<script>alert(1)</script>"
ENV_NAMES = ["web-1", "api-dev", HOSTILE, "data-lab", "old-box"]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok: " + msg)


def run(cmd, **kw):
    kw.setdefault("timeout", 60)
    return subprocess.run(cmd, capture_output=True, **kw)


class Server:
    """httpd_demo serve, on a free port of 127.0.0.1."""

    def __init__(self, demo, tmp):
        self.portfile = os.path.join(tmp, "port")
        self.proc = subprocess.Popen([demo, "serve", self.portfile])
        deadline = time.time() + 10
        while time.time() < deadline:
            if os.path.exists(self.portfile):
                txt = open(self.portfile).read()
                if txt.endswith("\n"):
                    self.port = int(txt)
                    self.url = "http://127.0.0.1:%d" % self.port
                    return
            if self.proc.poll() is not None:
                fail("httpd_demo exited with %d" % self.proc.returncode)
            time.sleep(0.05)
        self.stop()
        fail("httpd_demo did not write its port")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def rendered(demo):
    p = run([demo, "metrics"])
    if p.returncode != 0:
        fail("httpd_demo metrics: %s" % p.stderr.decode())
    return p.stdout


def sc_promtool(demo, tmp):
    promtool = shutil.which("promtool")
    if promtool is None:
        print("SKIP: promtool not installed (Debian package prometheus)")
        return SKIP
    text = rendered(demo)
    p = run([promtool, "check", "metrics"], input=text)
    check(p.returncode == 0, "promtool check metrics accepts the registry (%s)"
          % (p.stdout + p.stderr).decode().strip())
    broken = text.replace(b"envctl_leader 1", b"envctl_leader{ 1")
    p = run([promtool, "check", "metrics"], input=broken)
    check(p.returncode != 0, "promtool rejects a broken copy")
    return 0


def parse(text):
    p = run([sys.executable, PROMPARSE], input=text)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def sample(fams, family, name, **labels):
    for n, l, v in fams[family]["samples"]:
        if n == name and l == labels:
            return v
    fail("no sample %s%s" % (name, labels))


def sc_promparse(demo, tmp):
    rc, out, err = parse(rendered(demo))
    check(rc == 0, "promparse accepts the registry (%s)" % err.strip())
    fams = json.loads(out)
    names = list(fams)
    check(names[0] == "envctl_metrics_dropped_total",
          "the drop counter comes first")
    check(set(names) == {"envctl_metrics_dropped_total", "envctl_actions_total",
                         "envctl_environments", "envctl_provision_seconds",
                         "envctl_leader", "envctl_passes_total",
                         "envctl_capped_total"}, "all families present")
    check(fams["envctl_provision_seconds"]["type"] == "histogram", "histogram type")
    check(fams["envctl_provision_seconds"]["help"] ==
          "Time from launch to ready.\nSecond line \\ backslash.",
          "HELP unescapes to the registered text")
    weird = 'weird "quoted" \\ status\nline'
    check(sample(fams, "envctl_environments", "envctl_environments",
                 status=weird) == 1, "escaped label value reads back exactly")
    check(sample(fams, "envctl_actions_total", "envctl_actions_total",
                 action="provision", result="ok") == 12, "counter value")
    p = "envctl_provision_seconds"
    check(sample(fams, p, p + "_count", instance_type="t3.micro") == 3, "histogram count")
    check(sample(fams, p, p + "_sum", instance_type="t3.micro") == 1140.5, "histogram sum")
    check(sample(fams, p, p + "_bucket", instance_type="t3.micro", le="120") == 2,
          "cumulative bucket")
    check(sample(fams, p, p + "_bucket", instance_type="t3.micro", le="+Inf") == 3,
          "+Inf bucket")
    check(len(fams["envctl_capped_total"]["samples"]) == 3,
          "label cap keeps 3 series of 5")
    check(sample(fams, "envctl_metrics_dropped_total", "envctl_metrics_dropped_total",
                 metric="envctl_capped_total") == 2, "the 2 dropped updates are counted")
    check(sample(fams, "envctl_leader", "envctl_leader") == 1, "unlabelled gauge")
    return 0


GOOD = """# HELP a_total A counter.
# TYPE a_total counter
a_total{x="1"} 3
# HELP h A histogram.
# TYPE h histogram
h_bucket{le="1"} 1
h_bucket{le="+Inf"} 2
h_sum 3.5
h_count 2
"""

BAD = {
    "no TYPE": "# HELP a x\na 1\n",
    "no HELP": "# TYPE a gauge\na 1\n",
    "bad escape": '# HELP a x\n# TYPE a gauge\na{l="\\t"} 1\n',
    "bad name": "# HELP 1a x\n# TYPE 1a gauge\n1a 1\n",
    "reserved label": '# HELP a x\n# TYPE a gauge\na{__x="1"} 1\n',
    "duplicate label": '# HELP a x\n# TYPE a gauge\na{l="1",l="2"} 1\n',
    "unterminated value": '# HELP a x\n# TYPE a gauge\na{l="1} 1\n',
    "bad number": "# HELP a x\n# TYPE a gauge\na 1,5\n",
    "duplicate series": '# HELP a x\n# TYPE a gauge\na{l="1"} 1\na{l="1"} 2\n',
    "negative counter": "# HELP a x\n# TYPE a counter\na -1\n",
    "no final newline": "# HELP a x\n# TYPE a gauge\na 1",
    "not contiguous": "# HELP a x\n# TYPE a gauge\n# HELP b x\n# TYPE b gauge\nb 1\na 1\n",
    "not cumulative": GOOD.replace('h_bucket{le="+Inf"} 2', 'h_bucket{le="+Inf"} 0'),
    "no +Inf": GOOD.replace('h_bucket{le="+Inf"} 2\n', ""),
    "+Inf != count": GOOD.replace("h_count 2", "h_count 5"),
    "le not increasing": GOOD.replace('h_bucket{le="1"} 1', 'h_bucket{le="1"} 1\nh_bucket{le="0.5"} 1'),
    "second TYPE": "# HELP a x\n# TYPE a gauge\n# TYPE a gauge\na 1\n",
    "bad type": "# HELP a x\n# TYPE a meter\na 1\n",
    "raw quote": '# HELP a x\n# TYPE a gauge\na{l="a"b"} 1\n',
}


def sc_promparse_reject(demo, tmp):
    rc, out, err = parse(GOOD.encode())
    check(rc == 0, "a small valid document is accepted (%s)" % err.strip())
    for what, doc in BAD.items():
        rc, out, err = parse(doc.encode())
        check(rc == 1 and err.startswith("promparse: line"),
              "rejected: %s (%s)" % (what, err.strip()))
    return 0


def curl(*args):
    p = run(["curl", "-sS", "--max-time", "20"] + list(args))
    return p


def head_and_body(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def sc_curl(demo, tmp):
    if shutil.which("curl") is None:
        print("SKIP: curl not installed")
        return SKIP
    srv = Server(demo, tmp)
    try:
        p = curl("-i", srv.url + "/")
        status, hdr, body = head_and_body(p.stdout)
        check(status == 200, "GET / is 200")
        check(hdr.get("content-type") == "text/html; charset=utf-8", "status page is HTML")
        check("default-src 'none'" in hdr.get("content-security-policy", ""), "CSP header")
        check(hdr.get("content-length") == str(len(body)), "Content-Length matches the body")
        check(b"&lt;script&gt;alert(1)&lt;/script&gt;" in body and b"<script" not in body,
              "hostile name escaped on the wire")

        p = curl("-i", srv.url + "/metrics")
        status, hdr, body = head_and_body(p.stdout)
        check(status == 200, "GET /metrics is 200")
        check(hdr.get("content-type", "").startswith("text/plain; version=0.0.4"),
              "exposition content type")
        check(body == rendered(demo), "served /metrics equals the rendered registry")

        p = curl("-sI", srv.url + "/")
        status, hdr, body = head_and_body(p.stdout)
        check(status == 200 and body == b"", "HEAD / is 200 without a body")
        check(int(hdr["content-length"]) > 1000, "HEAD has the GET's Content-Length")

        for path, want in (("/healthz", 200), ("/nope", 404), ("/metrics/x", 404)):
            p = curl("-o", "/dev/null", "-w", "%{http_code}", srv.url + path)
            check(p.stdout.decode() == str(want), "GET %s is %d" % (path, want))
        p = curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                 "--data", "x=1", srv.url + "/")
        check(p.stdout.decode() == "405", "POST is 405")
        p = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", "X-Big: " + "a" * 9000,
                 srv.url + "/")
        check(p.stdout.decode() == "431", "a 9 KB header is 431")

        p = curl("-i", srv.url + "/api/environments")
        status, hdr, body = head_and_body(p.stdout)
        doc = json.loads(body)
        check(status == 200 and hdr.get("content-type") == "application/json",
              "GET /api/environments is JSON")
        check([e["name"] for e in doc["environments"]] == ENV_NAMES,
              "environment names round-trip through JSON")
        check(doc["role"] == "leader" and doc["environments"][2]["cost_usd"] is None,
              "facts and nulls in /api/environments")
        p = curl(srv.url + "/api/events?limit=2")
        doc = json.loads(p.stdout)
        check(len(doc["events"]) == 2 and doc["events"][1]["env"] == HOSTILE,
              "/api/events?limit=2 gives 2 events")
        p = curl("-o", "/dev/null", "-w", "%{http_code}", srv.url + "/api/events?limit=x")
        check(p.stdout.decode() == "400", "a bad limit is 400")

        urls = []
        for i in range(100):
            urls += ["-o", "/dev/null", srv.url + ("/metrics?i=%d" % i)]
        t0 = time.time()
        p = curl("--parallel", "--parallel-max", "50", "-w", "%{http_code}\n", *urls)
        took = time.time() - t0
        codes = p.stdout.decode().split()
        check(len(codes) == 100 and set(codes) == {"200"},
              "100 parallel requests (50 at a time) all 200 in %.2fs" % took)
    finally:
        rc = srv.stop()
    check(rc == 0, "server exits 0 on SIGTERM")
    return 0


class Dom(html.parser.HTMLParser):
    """Collect elements and the text of cells by class."""

    def __init__(self):
        super().__init__()
        self.tags = {}
        self.stack = []
        self.cells = []        # (class, text) of td
        self.rows = {"environments": 0, "events": 0, "fleet": 0}
        self.table = None
        self.title = ""
        self.bars = {}         # data-le -> data-count of the histogram
        self.links = []        # href of every <a>
        self.ids = {}          # text of elements with an id (dd, pre, h2)
        self.checks = {}       # data-check -> state
        self.in_id = None
        self.in_check = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "rect" and "data-le" in a:
            self.bars[a["data-le"]] = int(a.get("data-count", "-1"))
        if tag == "a":
            self.links.append(a.get("href", ""))
        if tag in ("dd", "pre", "h2") and a.get("id"):
            self.in_id = a["id"]
            self.ids[self.in_id] = ""
        if tag == "li" and "data-check" in a:
            self.in_check = a["data-check"]
        if tag == "span" and self.in_check is not None:
            self.checks[self.in_check] = ""
        for k in a:
            if k.startswith("on"):
                self.tags["on*"] = self.tags.get("on*", 0) + 1
        if tag == "table":
            self.table = a.get("id")
        if tag == "tr" and self.table in self.rows and "td" not in self.stack:
            self.rows[self.table] += 1
        if tag in ("td", "title"):
            self.stack.append(tag)
        if tag == "td":
            self.cells.append([a.get("class"), ""])

    def handle_endtag(self, tag):
        if tag in ("td", "title") and self.stack and self.stack[-1] == tag:
            self.stack.pop()
        if tag in ("dd", "pre", "h2"):
            self.in_id = None
        if tag == "span":
            self.in_check = None

    def handle_data(self, data):
        if self.in_check is not None and self.in_check in self.checks:
            self.checks[self.in_check] += data
        if self.in_id is not None:
            self.ids[self.in_id] += data
        if self.stack and self.stack[-1] == "td":
            self.cells[-1][1] += data
        elif self.stack and self.stack[-1] == "title":
            self.title += data


def png_info(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail("screenshot is not a PNG")
    w, h = struct.unpack(">II", data[16:24])
    idat, i = b"", 8
    while i < len(data):
        n, kind = struct.unpack(">I4s", data[i:i + 8])
        if kind == b"IDAT":
            idat += data[i + 8:i + 8 + n]
        i += 12 + n
    raw = zlib.decompress(idat)
    return w, h, len(data), raw


def chromium_cmd():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def sc_chromium(demo, tmp):
    chrome = chromium_cmd()
    if chrome is None:
        print("SKIP: chromium not installed (Debian package chromium)")
        return SKIP
    srv = Server(demo, tmp)
    base = [chrome, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
            "--hide-scrollbars", "--window-size=1280,900"]
    shot = os.path.join(tmp, "status.png")
    keep = os.environ.get("HTTPD_IT_SCREENSHOT")
    try:
        p = run(base + ["--user-data-dir=" + tempfile.mkdtemp(dir=tmp),
                        "--screenshot=" + shot, srv.url + "/"], timeout=120)
        check(os.path.exists(shot), "chromium wrote a screenshot (rc %d)" % p.returncode)
        w, h, size, raw = png_info(shot)
        check((w, h) == (1280, 900), "screenshot is 1280x900")
        check(size > 20000, "screenshot is not trivial (%d bytes)" % size)
        check(len(set(raw)) > 50, "screenshot has many distinct bytes (%d)" % len(set(raw)))
        if keep:
            shutil.copy(shot, keep)

        p = run(base + ["--user-data-dir=" + tempfile.mkdtemp(dir=tmp),
                        "--dump-dom", srv.url + "/"], timeout=120)
        dom = p.stdout.decode()
        check("<table" in dom, "chromium dumped the DOM (rc %d)" % p.returncode)
        d = Dom()
        d.feed(dom)
        check(d.tags.get("script", 0) == 0, "no <script> element in the DOM")
        for tag in ("img", "iframe", "on*"):
            check(d.tags.get(tag, 0) == 0, "no injected %s" % tag)
        names = [t for cls, t in d.cells if cls == "name"]
        for n in ENV_NAMES:
            check(n in names, "environment %r appears as text" % n)
        check(d.rows["environments"] == 5 + 1, "5 environment rows (+ header)")
        check(d.rows["events"] == 4 + 1, "4 event rows (+ header)")
        check(any(cls == "err" and "<b>us-east-1a</b>" in t for cls, t in d.cells),
              "last error shown as text, markup and all")
        check(d.title == "envctl: dev-cluster<1>", "title is the escaped cluster id")
        check(d.rows.get("fleet") == 5 + 1 + 1,
              "the fleet table: 5 workspaces + the cluster (+ header): %s" % d.rows.get("fleet"))
        check(d.tags.get("svg") == 1 and d.tags.get("rect") == 8,
              "one SVG histogram of 8 buckets (%s svg, %s rect)" % (d.tags.get("svg"),
                                                                   d.tags.get("rect")))
        check(sorted(d.bars.items()) == sorted({"1m": 0, "2m": 1, "3m": 1, "5m": 0,
                                                "10m": 1, "15m": 0, "30m": 0,
                                                "more": 0}.items()),
              "the bars count the ready environments' provision times: %s" % d.bars)
        check(d.links.count("/env?name=web-1") == 1 and
              "/env?name=%3Cscript%3Ealert%281%29%3C%2Fscript%3E" in d.links,
              "each name links to its page, percent-encoded: %s" % d.links[:6])

        # the page of one environment, rendered by Chromium
        url = srv.url + "/env?name=api-dev"
        eshot = os.path.join(tmp, "status-env.png")
        p = run(base + ["--user-data-dir=" + tempfile.mkdtemp(dir=tmp),
                        "--screenshot=" + eshot, url], timeout=120)
        w, h, size, raw = png_info(eshot)
        check((w, h) == (1280, 900) and size > 20000 and len(set(raw)) > 50,
              "a screenshot of the environment page (%dx%d, %d bytes)" % (w, h, size))
        keep_dir = os.environ.get("HTTPD_IT_SCREENSHOT_DIR")
        if keep_dir:
            os.makedirs(keep_dir, exist_ok=True)
            shutil.copy(shot, os.path.join(keep_dir, "status.png"))
            shutil.copy(eshot, os.path.join(keep_dir, "status-env.png"))
            print("screenshots kept in " + keep_dir)
        p = run(base + ["--user-data-dir=" + tempfile.mkdtemp(dir=tmp),
                        "--dump-dom", url], timeout=120)
        d = Dom()
        html = p.stdout.decode()
        d.feed(html)
        check(d.ids.get("env-name") == "api-dev", "the page names it: %r" % d.ids.get("env-name"))
        hdr = html[html.find("<header"):html.find("</header>")]
        check("cluster" in hdr and "environments" not in hdr,
              "its header has no fleet count (it once said SIZE_MAX): %r" % hdr[-120:])
        check(d.checks == {"status": "waiting", "marker": "waiting", "hostkey": "waiting"},
              "its readiness checklist, each check's state: %s" % d.checks)
        check(d.ids.get("connect") == "envctl ssh api-dev", "the line to connect: %r"
              % d.ids.get("connect"))
        check("held by quota: quota of workspace team-backend" in d.ids.get("why", ""),
              "why it waits: %r" % d.ids.get("why"))
        check("$0.0100 so far, $0.0416 per hour now" in d.ids.get("cost", ""),
              "its cost: %r" % d.ids.get("cost"))
        p = run(base + ["--user-data-dir=" + tempfile.mkdtemp(dir=tmp),
                        "--dump-dom", srv.url + "/env?name=web-1"], timeout=120)
        d = Dom()
        d.feed(p.stdout.decode())
        check(set(d.checks.values()) == {"passed"} and
              "SHA256:Lm0S0vUO1Fm3mTQqzq5v1Vt0w2W3jA4tVh0dXzZ1wY8" in d.ids.get("host-keys", "")
              and d.rows["events"] == 1 + 1 and d.tags.get("script", 0) == 0,
              "a ready one: every check passed, its host key, its one event (%s)" % d.checks)
    finally:
        rc = srv.stop()
    check(rc == 0, "server exits 0 on SIGTERM")
    return 0


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    scenario, demo = sys.argv[1], sys.argv[2]
    fn = globals().get("sc_" + scenario)
    if fn is None:
        fail("unknown scenario " + scenario)
    tmp = tempfile.mkdtemp(prefix="httpd_it.")
    try:
        return fn(demo, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
