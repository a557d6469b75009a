"""Python half of scripts/pulp-peer (see its header for the interface).

Runs inside the Pulp venv (pulp-rpm==3.39.4, pulpcore==3.123.1) but uses only
the standard library itself: Pulp runs as its own processes (pulpcore-manager,
pulpcore-api, pulpcore-content, pulpcore-worker from the venv's bin/), and the
API is spoken with urllib, as any client would.

    pulp_peer.py check DIST==VERSION...   exit 0 when the venv has these and
                                          imports pulpcore, pulp_rpm, ...
    pulp_peer.py start DIR [--api-port P] [--content-port Q] [--timeout S]
    pulp_peer.py stop DIR
    pulp_peer.py repo DIR --name NAME [--label K=V]... [--hidden]
                          [--no-distribution] [--serve-repository] RPM_OR_DIR...
"""

import argparse
import base64
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

SERVICES = ("api", "content", "worker")
API_ROOT = "/pulp/api/v3/"
CONTENT_PATH = "/pulp/content/"


def die(msg, code=1):
    sys.stderr.write("pulp-peer: error: %s\n" % msg)
    sys.exit(code)


def note(msg):
    sys.stderr.write("pulp-peer: %s\n" % msg)


def venv_bin(name):
    return os.path.join(os.path.dirname(sys.executable), name)


# --- check -------------------------------------------------------------------


def cmd_check(pins):
    from importlib.metadata import PackageNotFoundError, version

    bad = []
    for pin in pins:
        name, _, want = pin.partition("==")
        try:
            have = version(name)
        except PackageNotFoundError:
            have = None
        if want and have != want:
            bad.append(f"{name}: have {have}, want {want}")
    if bad:
        die("; ".join(bad))
    import createrepo_c  # noqa: F401
    import pulp_rpm  # noqa: F401
    import pulpcore  # noqa: F401
    import solv  # noqa: F401

    for tool in ("pulpcore-manager", "pulpcore-api", "pulpcore-content", "pulpcore-worker",
                 "createrepo_c"):
        if not os.access(venv_bin(tool), os.X_OK):
            die(f"no {tool} in the venv")
    print("ok")


# --- PostgreSQL ----------------------------------------------------------------


def pg_params():
    return {
        "host": os.environ.get("ODCS_PULP_PGHOST", "127.0.0.1"),
        "port": int(os.environ.get("ODCS_PULP_PGPORT", "5432")),
        "user": os.environ.get("ODCS_PULP_PGUSER", "postgres"),
    }


def psql(sql, dbname="postgres"):
    pg = pg_params()
    cmd = [
        "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
        "-h", pg["host"], "-p", str(pg["port"]), "-U", pg["user"], "-d", dbname,
        "-c", sql,
    ]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode != 0:
        die(f"psql {sql!r} failed: {r.stderr.strip()}")
    return r.stdout


def db_name(dir_):
    return "pulp_peer_" + hashlib.sha1(dir_.encode()).hexdigest()[:12]


def drop_db(name):
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- processes -----------------------------------------------------------------


def pid_file(dir_, svc):
    return os.path.join(dir_, "pids", svc + ".pid")


def read_pid(dir_, svc):
    try:
        with open(pid_file(dir_, svc)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def ours(pid, dir_):
    """True when pid is alive and is one of this DIR's Pulp processes (its
    environment names DIR's settings file, or it runs in DIR, where they are
    started): a recycled pid is left alone. The working directory counts
    because a process that sets its title (setproctitle, as the Pulp
    services do) overwrites the memory /proc/PID/environ shows, so that
    check alone failed now and then ("pulpcore-worker exited" while it ran)."""
    try:
        if os.path.realpath(f"/proc/{pid}/cwd") == os.path.realpath(dir_):
            return True
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
    except OSError:
        return False
    want = ("PULP_SETTINGS=" + os.path.join(dir_, "settings.py")).encode()
    return want in env


def service_gone(dir_, svc):
    """Why service svc of DIR is not running, or None while it is."""
    pid = read_pid(dir_, svc)
    if pid is None:
        return "no pid file"
    if not group_alive(pid):
        return f"process group {pid} is gone"
    if not ours(pid, dir_):
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            state = "?"
        return f"process {pid} (state {state}) is not this DIR's service"
    return None


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def stop_processes(dir_, grace=15.0):
    groups = []
    for svc in SERVICES:
        pid = read_pid(dir_, svc)
        if pid is None:
            continue
        # Each service was started as a session leader: its pid is its
        # process group (gunicorn's workers are in it too).
        if ours(pid, dir_) or (group_alive(pid) and _group_is_ours(pid, dir_)):
            try:
                os.killpg(pid, signal.SIGTERM)
                groups.append((svc, pid))
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for svc, pgid in groups:
        while group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if group_alive(pgid):
            note(f"{svc} (process group {pgid}) still there after {grace:.0f} s: SIGKILL")
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            t = time.monotonic() + 5
            while group_alive(pgid) and time.monotonic() < t:
                time.sleep(0.1)
    for svc in SERVICES:
        try:
            os.unlink(pid_file(dir_, svc))
        except FileNotFoundError:
            pass
    return [svc for svc, _ in groups]


def _group_is_ours(pgid, dir_):
    """The group leader may be gone while its children live on: look for any
    process of the group that is ours."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) == pgid and ours(int(entry), dir_):
                return True
        except (OSError, ValueError):
            continue
    return False


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def port_taken(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def log_tail(dir_, svc, lines=25):
    try:
        with open(os.path.join(dir_, "log", svc + ".log"), errors="replace") as f:
            text = f.readlines()[-lines:]
    except OSError:
        return ""
    return "".join(text)


# --- HTTP ------------------------------------------------------------------------


class HttpError(Exception):
    def __init__(self, status, body, url, method):
        super().__init__(f"{method} {url}: HTTP {status}: {body[:2000]}")
        self.status = status
        self.body = body


def http(method, url, body=None, auth=None, timeout=60):
    data = None
    headers = {"Accept": "application/json"}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers["Authorization"] = "Basic " + token
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        raise HttpError(e.code, e.read().decode(errors="replace"), url, method) from None
    if not raw:
        return status, None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


# --- start -----------------------------------------------------------------------

SETTINGS_TEMPLATE = '''\
# Written by scripts/pulp-peer start: a Pulp 3 test peer (PULP_SETTINGS).
DATABASES = {{
    "default": {{
        "ENGINE": "django.db.backends.postgresql",
        "NAME": {db!r},
        "USER": {pg_user!r},
        "HOST": {pg_host!r},
        "PORT": {pg_port!r},
    }}
}}
CONTENT_ORIGIN = {content_origin!r}
MEDIA_ROOT = {media!r}
STATIC_ROOT = {static!r}
WORKING_DIRECTORY = {work!r}
FILE_UPLOAD_TEMP_DIR = {upload!r}
SECRET_KEY = {secret!r}
DB_ENCRYPTION_KEY = {db_key!r}
# file:// remotes: the scratch repositories of `pulp-peer repo` live in DIR.
ALLOWED_IMPORT_PATHS = [{dir!r}]
ALLOWED_EXPORT_PATHS = []
CACHE_ENABLED = False
ANALYTICS = False
'''


def cmd_start(args):
    t0 = time.monotonic()
    dir_ = os.path.realpath(args.dir)
    os.makedirs(dir_, exist_ok=True)
    if any(read_pid(dir_, s) for s in SERVICES):
        note(f"stopping the earlier peer of {dir_}")
        stop_processes(dir_)
    try:
        os.unlink(os.path.join(dir_, "peer.json"))
    except FileNotFoundError:
        pass

    api_port = args.api_port or free_port()
    content_port = args.content_port or free_port()
    while content_port == api_port:
        content_port = free_port()
    for what, port in (("api", api_port), ("content", content_port)):
        if port_taken(port):
            die(f"{what} port {port} is taken")

    # A fresh database goes with fresh storage: artifacts an earlier peer of
    # DIR left in media/ would be orphans.
    for sub in ("media", "tmp", "upload", "repos"):
        shutil.rmtree(os.path.join(dir_, sub), ignore_errors=True)
    for sub in ("media", "static", "tmp", "upload", "log", "pids"):
        os.makedirs(os.path.join(dir_, sub), exist_ok=True)
    db_key = os.path.join(dir_, "db.key")
    with open(db_key, "wb") as f:
        f.write(base64.urlsafe_b64encode(os.urandom(32)))
    os.chmod(db_key, 0o600)

    pg = pg_params()
    db = db_name(dir_)
    note(f"database {db} (fresh)")
    drop_db(db)
    psql(f'CREATE DATABASE "{db}"')
    psql("CREATE EXTENSION IF NOT EXISTS hstore", dbname=db)

    settings = os.path.join(dir_, "settings.py")
    content_origin = f"http://127.0.0.1:{content_port}"
    with open(settings, "w") as f:
        f.write(SETTINGS_TEMPLATE.format(
            db=db, pg_user=pg["user"], pg_host=pg["host"], pg_port=pg["port"],
            content_origin=content_origin,
            media=os.path.join(dir_, "media"), static=os.path.join(dir_, "static"),
            work=os.path.join(dir_, "tmp"), upload=os.path.join(dir_, "upload"),
            secret=secrets.token_urlsafe(40), db_key=db_key, dir=dir_,
        ))

    env = dict(os.environ)
    env["PULP_SETTINGS"] = settings
    env["DJANGO_SETTINGS_MODULE"] = "pulpcore.app.settings"
    env.pop("PYTHONPATH", None)
    env["PYTHONUNBUFFERED"] = "1"

    def manage(*argv, log):
        with open(os.path.join(dir_, "log", log), "w") as out:
            r = subprocess.run([venv_bin("pulpcore-manager"), *argv], cwd=dir_, env=env,
                               stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            sys.stderr.write(log_tail(dir_, log[:-4], 40))
            drop_db(db)
            die(f"pulpcore-manager {argv[0]} failed (DIR/log/{log})")

    t = time.monotonic()
    note("pulpcore-manager migrate")
    manage("migrate", "--noinput", log="migrate.log")
    note(f"migrated ({time.monotonic() - t:.1f} s)")
    password = secrets.token_urlsafe(18)
    # `--password=` form: a token that starts with "-" would otherwise be
    # read as an option (argparse: "usage: ... reset-admin-password")
    manage("reset-admin-password", f"--password={password}", log="admin.log")

    commands = {
        "api": [venv_bin("pulpcore-api"), "--bind", f"127.0.0.1:{api_port}", "--workers", "1",
                "--access-logfile", "-"],
        "content": [venv_bin("pulpcore-content"), "--bind", f"127.0.0.1:{content_port}",
                    "--workers", "1", "--access-logfile", "-"],
        "worker": [venv_bin("pulpcore-worker")],
    }
    for svc, argv in commands.items():
        with open(os.path.join(dir_, "log", svc + ".log"), "w") as out:
            p = subprocess.Popen(argv, cwd=dir_, env=env, stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        with open(pid_file(dir_, svc), "w") as f:
            f.write(f"{p.pid}\n")

    api = f"http://127.0.0.1:{api_port}"
    note(f"waiting for {api}{API_ROOT}status/ (worker and content app online)")
    deadline = time.monotonic() + args.timeout
    last = "no answer yet"
    # a service counts as gone after 3 checks in a row (1.5 s) say so: one
    # check alone once failed while the service ran on
    gone = {svc: 0 for svc in SERVICES}
    while True:
        for svc in SERVICES:
            why = service_gone(dir_, svc)
            gone[svc] = gone[svc] + 1 if why else 0
            if gone[svc] >= 3:
                sys.stderr.write(log_tail(dir_, svc, 40))
                stop_processes(dir_)
                drop_db(db)
                die(f"pulpcore-{svc} exited: {why} (DIR/log/{svc}.log above)")
        try:
            _, status = http("GET", api + API_ROOT + "status/", timeout=10)
            workers = status.get("online_workers") or []
            apps = status.get("online_content_apps") or []
            if workers and apps:
                code, _ = http("GET", content_origin + CONTENT_PATH, timeout=10)
                if code == 200:
                    break
            last = f"{len(workers)} worker(s), {len(apps)} content app(s) online"
        except (OSError, HttpError, ValueError, AttributeError) as e:
            last = str(e)
        if time.monotonic() > deadline:
            for svc in SERVICES:
                sys.stderr.write(f"--- {svc}.log\n" + log_tail(dir_, svc, 15))
            stop_processes(dir_)
            drop_db(db)
            die(f"Pulp not ready after {args.timeout:.0f} s: {last}")
        time.sleep(0.5)

    peer = {
        "api": api,
        "content": content_origin,
        "user": "admin",
        "password": password,
        "dir": dir_,
        "database": db,
    }
    path = os.path.join(dir_, "peer.json")
    with open(path + ".tmp", "w") as f:
        json.dump(peer, f)
        f.write("\n")
    os.replace(path + ".tmp", path)
    note(f"Pulp is up ({time.monotonic() - t0:.1f} s)")
    print(json.dumps(peer), flush=True)


# --- stop ------------------------------------------------------------------------


def cmd_stop(args):
    dir_ = os.path.realpath(args.dir)
    stopped = stop_processes(dir_) if os.path.isdir(dir_) else []
    db = db_name(dir_)
    drop_db(db)
    try:
        os.unlink(os.path.join(dir_, "peer.json"))
    except FileNotFoundError:
        pass
    note(f"stopped {', '.join(stopped) or 'nothing'}; dropped database {db} (if any)")


# --- repo ------------------------------------------------------------------------


class Api:
    def __init__(self, peer):
        self.base = peer["api"]
        self.auth = (peer["user"], peer["password"])

    def url(self, path_or_href):
        if path_or_href.startswith("http"):
            return path_or_href
        if path_or_href.startswith("/"):
            return self.base + path_or_href
        return self.base + API_ROOT + path_or_href

    def call(self, method, path, body=None):
        return http(method, self.url(path), body=body, auth=self.auth)[1]

    def get(self, path):
        return self.call("GET", path)

    def find(self, kind, name):
        q = urllib.parse.urlencode({"name": name})
        page = self.get(f"{kind}?{q}")
        return page["results"][0] if page["results"] else None

    def wait(self, answer, what, timeout=600):
        """Polls the task of a 202 answer ({"task": href}) until it ends."""
        href = answer["task"]
        deadline = time.monotonic() + timeout
        delay = 0.2
        while True:
            task = self.get(href)
            state = task.get("state")
            if state == "completed":
                return task
            if state in ("failed", "canceled", "canceling"):
                err = task.get("error") or {}
                desc = err.get("description") or json.dumps(err) or state
                die(f"{what}: task {href} {state}: {desc}")
            if time.monotonic() > deadline:
                die(f"{what}: task {href} still {state} after {timeout} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)


def created(task, part):
    for href in task.get("created_resources") or []:
        if href and part in href:
            return href
    die(f"task {task.get('pulp_href')} created no {part}: {task.get('created_resources')}")


def gather_rpms(paths):
    rpms = []
    for p in paths:
        if os.path.isdir(p):
            found = []
            for root, dirs, files in os.walk(p):
                dirs.sort()
                found += [os.path.join(root, f) for f in sorted(files) if f.endswith(".rpm")]
            if not found:
                die(f"no *.rpm in {p}")
            rpms += found
        elif os.path.isfile(p):
            rpms.append(p)
        else:
            die(f"no such file or directory: {p}")
    seen = {}
    for r in rpms:
        b = os.path.basename(r)
        if b in seen and os.path.realpath(seen[b]) != os.path.realpath(r):
            die(f"two RPMs named {b}: {seen[b]} and {r}")
        seen[b] = r
    return sorted(seen.values(), key=os.path.basename)


def cmd_repo(args):
    t0 = time.monotonic()
    dir_ = os.path.realpath(args.dir)
    try:
        with open(os.path.join(dir_, "peer.json")) as f:
            peer = json.load(f)
    except OSError:
        die(f"no {dir_}/peer.json: run `scripts/pulp-peer start {args.dir}` first")
    name = args.name
    if not name or "/" in name or name.startswith("."):
        die(f"bad name: {name!r}")
    labels = {}
    for spec in args.label:
        k, sep, v = spec.partition("=")
        if not sep or not k:
            die(f"bad --label {spec!r}: want K=V")
        labels[k] = v
    rpms = gather_rpms(args.rpms)

    scratch = os.path.join(dir_, "repos", name)
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    for r in rpms:
        dst = os.path.join(scratch, os.path.basename(r))
        try:
            os.link(os.path.realpath(r), dst)
        except OSError:
            shutil.copyfile(r, dst)
    r = subprocess.run([venv_bin("createrepo_c"), "--quiet", "--no-database", scratch],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode != 0:
        die(f"createrepo_c {scratch} failed: {r.stderr.strip()}")
    note(f"{len(rpms)} RPM(s) in {scratch} (createrepo_c)")

    api = Api(peer)
    try:
        # A fresh start for NAME: what an earlier `repo NAME` made goes first.
        for kind, what in (("distributions/rpm/rpm/", "distribution"),
                           ("repositories/rpm/rpm/", "repository"),
                           ("remotes/rpm/rpm/", "remote")):
            old = api.find(kind, name)
            if old:
                note(f"deleting the earlier {what} {name}")
                ans = api.call("DELETE", old["pulp_href"])
                if isinstance(ans, dict) and "task" in ans:
                    api.wait(ans, f"delete {old['pulp_href']}")

        remote = api.call("POST", "remotes/rpm/rpm/", {
            "name": name,
            "url": "file://" + scratch + "/",
            "policy": "immediate",
        })
        repo = api.call("POST", "repositories/rpm/rpm/", {
            "name": name,
            "pulp_labels": labels,
        })
        note(f"syncing {repo['pulp_href']}")
        task = api.wait(api.call("POST", repo["pulp_href"] + "sync/",
                                 {"remote": remote["pulp_href"]}), f"sync {name}")
        version = created(task, "/versions/")
        task = api.wait(api.call("POST", "publications/rpm/rpm/",
                                 {"repository_version": version}), f"publish {version}")
        publication = created(task, "/publications/")
        dist_href = base_url = None
        if not args.no_distribution:
            body = {"name": name, "base_path": name, "pulp_labels": labels,
                    "hidden": bool(args.hidden)}
            if args.serve_repository:
                body["repository"] = repo["pulp_href"]
            else:
                body["publication"] = publication
            task = api.wait(api.call("POST", "distributions/rpm/rpm/", body),
                            f"distribution {name}")
            dist_href = created(task, "/distributions/")
            base_url = api.get(dist_href).get("base_url")
        count = api.get(version).get("content_summary", {}).get("present", {}) \
            .get("rpm.package", {}).get("count", 0)
    except HttpError as e:
        die(str(e))
    note(f"repository {name} done ({time.monotonic() - t0:.1f} s)")
    print(json.dumps({
        "repository": repo["pulp_href"],
        "repository_version": version,
        "publication": publication,
        "distribution": dist_href,
        "base_url": base_url,
        "labels": labels,
        "packages": count,
    }), flush=True)


# --- main ------------------------------------------------------------------------


def main():
    if len(sys.argv) < 2:
        die("usage: pulp_peer.py check|start|stop|repo ...", 2)
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "check":
        cmd_check(rest)
        return
    ap = argparse.ArgumentParser(prog=f"pulp-peer {cmd}")
    ap.add_argument("dir")
    if cmd == "start":
        ap.add_argument("--api-port", type=int)
        ap.add_argument("--content-port", type=int)
        ap.add_argument("--timeout", type=float, default=300.0)
        cmd_start(ap.parse_args(rest))
    elif cmd == "stop":
        cmd_stop(ap.parse_args(rest))
    elif cmd == "repo":
        ap.add_argument("--name", required=True)
        ap.add_argument("--label", action="append", default=[])
        ap.add_argument("--hidden", action="store_true")
        ap.add_argument("--no-distribution", action="store_true")
        ap.add_argument("--serve-repository", action="store_true")
        ap.add_argument("rpms", nargs="+", metavar="RPM_OR_DIR")
        cmd_repo(ap.parse_args(rest))
    else:
        die(f"unknown command: {cmd}", 2)


if __name__ == "__main__":
    main()
