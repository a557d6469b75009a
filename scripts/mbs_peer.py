"""Python half of scripts/mbs-peer (see its header for the interface).

Runs inside the MBS venv (module-build-service==3.9.2), never imports MBS at
module level: MBS reads its configuration (MBS_CONFIG_FILE /
MBS_CONFIG_SECTION) at import time, so each command sets those first.

    mbs_peer.py check PIN...        exit 0 when MBS imports with these pins
    mbs_peer.py stub-pungi          put a pungi.arch stub in site-packages
    mbs_peer.py init DIR
    mbs_peer.py import DIR [--state S] [--koji-tag TAG] [--scratch]
                           [--final-modulemd ARCH=FILE]... [--component SPEC]... FILE...

`scripts/mbs-peer run` serves `create_app()` of this module (the MBS app with
the peer's WSGI middleware, see PeerMiddleware) through the flask CLI.
"""

import argparse
import json
import os
import re
import shutil
import sys
import sysconfig
import tempfile

CONFIG_SECTION = "PeerConfiguration"

CONFIG_TEMPLATE = '''\
# Written by scripts/mbs-peer init: the configuration of a read-only
# Module Build Service 3.9.2 test peer. Paths are relative to this file's
# directory, so the directory can move.
import os

from module_build_service.common.config import BaseConfiguration

_here = os.path.dirname(os.path.abspath(__file__))


class PeerConfiguration(BaseConfiguration):
    SECRET_KEY = "odcs-tests-mbs-peer"
    SQLALCHEMY_DATABASE_URI = "sqlite:///" + os.path.join(_here, "mbs.db")
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SYSTEM = "mock"
    RESOLVER = "db"
    MESSAGING = "drop"
    NO_AUTH = True
    LOG_BACKEND = "console"
    LOG_LEVEL = "info"
    MOCK_CONFIG_FILE = [os.path.join(_here, "etc", "mock.cfg")]
    YUM_CONFIG_FILE = [os.path.join(_here, "etc", "yum.conf")]
    KOJI_CONFIG = os.path.join(_here, "etc", "koji.conf")
    CACHE_DIR = os.path.join(_here, "cache")
    BUILD_LOGS_DIR = os.path.join(_here, "logs")
    MOCK_RESULTSDIR = os.path.join(_here, "builds")
'''

# Used only when the wheel's copies cannot be found (they are templates MBS
# reads at import time; the peer never builds anything).
FALLBACK_ETC = {
    "mock.cfg": "config_opts['root'] = '$root'\nconfig_opts['target_arch'] = '$arch'\n",
    "yum.conf": "[main]\n",
    "koji.conf": "[koji]\nserver = https://koji.invalid/kojihub\n",
}

PUNGI_INIT = '"""Stub of pungi for the MBS test peer (scripts/mbs-peer): not the real pungi."""\n'
PUNGI_ARCH = '''\
"""Stub of pungi.arch for the MBS test peer (scripts/mbs-peer).

module_build_service.builder.KojiContentGenerator imports pungi.arch at import
time; pungi is not on PyPI. The read-only peer never reaches these.
"""


def _unavailable(*args, **kwargs):
    raise NotImplementedError("pungi.arch is a stub in the MBS test peer")


get_compatible_arches = _unavailable
get_valid_arches = _unavailable
get_valid_multilib_arches = _unavailable
tree_arch_to_yum_arch = _unavailable
'''


def die(msg, code=1):
    sys.stderr.write("mbs-peer: error: %s\n" % msg)
    sys.exit(code)


def note(msg):
    sys.stderr.write("mbs-peer: %s\n" % msg)


def etc_sources():
    """Where the wheel put conf/{koji.conf,mock.cfg,yum.conf} (data_files with
    an absolute /etc path end up below site-packages or the prefix)."""
    paths = sysconfig.get_paths()
    cands = [
        os.path.join(paths["purelib"], "etc", "module-build-service"),
        os.path.join(paths["platlib"], "etc", "module-build-service"),
        os.path.join(sys.prefix, "etc", "module-build-service"),
        os.path.join(paths["data"], "etc", "module-build-service"),
        "/etc/module-build-service",
    ]
    for c in cands:
        if all(os.path.isfile(os.path.join(c, f)) for f in FALLBACK_ETC):
            return c
    return None


def write_config(dir_):
    os.makedirs(os.path.join(dir_, "etc"), exist_ok=True)
    src = etc_sources()
    for name, fallback in FALLBACK_ETC.items():
        dst = os.path.join(dir_, "etc", name)
        if src:
            shutil.copyfile(os.path.join(src, name), dst)
        else:
            with open(dst, "w") as f:
                f.write(fallback)
    for sub in ("cache", "logs", "builds"):
        os.makedirs(os.path.join(dir_, sub), exist_ok=True)
    with open(os.path.join(dir_, "config.py"), "w") as f:
        f.write(CONFIG_TEMPLATE)


def use_config(dir_):
    os.environ["MBS_CONFIG_FILE"] = os.path.join(dir_, "config.py")
    os.environ["MBS_CONFIG_SECTION"] = CONFIG_SECTION
    os.environ.pop("MODULE_BUILD_SERVICE_DEVELOPER_ENV", None)


def quiet_mbs_logs():
    import logging

    logging.getLogger("module_build_service").setLevel(logging.ERROR)
    logging.getLogger("MBS").setLevel(logging.ERROR)


# --- check / stub-pungi ------------------------------------------------------

def cmd_check(pins):
    from importlib import metadata

    bad = []
    for pin in pins:
        name, _, want = pin.partition("==")
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            bad.append("%s missing" % name)
            continue
        if want and have != want:
            bad.append("%s %s (want %s)" % (name, have, want))
    if bad:
        die("not as pinned: " + ", ".join(bad))
    import pungi.arch  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="mbs-peer-check-") as tmp:
        write_config(tmp)
        use_config(tmp)
        import module_build_service  # noqa: F401
        from module_build_service.common import conf, models, utils  # noqa: F401
        import module_build_service.web.views  # noqa: F401

        if conf.system != "mock" or conf.resolver != "db":
            die("MBS did not take the peer configuration")


def cmd_stub_pungi():
    try:
        import pungi.arch  # noqa: F401
        return
    except ImportError:
        pass
    site = sysconfig.get_paths()["purelib"]
    pkg = os.path.join(site, "pungi")
    os.makedirs(pkg, exist_ok=True)
    with open(os.path.join(pkg, "__init__.py"), "w") as f:
        f.write(PUNGI_INIT)
    with open(os.path.join(pkg, "arch.py"), "w") as f:
        f.write(PUNGI_ARCH)
    note("installed the pungi.arch stub in %s" % pkg)


# --- init ----------------------------------------------------------------------

def cmd_init(dir_):
    dir_ = os.path.abspath(dir_)
    os.makedirs(dir_, exist_ok=True)
    write_config(dir_)
    use_config(dir_)
    quiet_mbs_logs()
    from module_build_service import app, db
    import module_build_service.common.models  # noqa: F401  (registers the tables)

    with app.app_context():
        db.create_all()
        db.session.commit()
    note("initialized %s (config.py, mbs.db)" % dir_)


# --- import --------------------------------------------------------------------

def split_documents(path):
    """The modulemd documents of a file, each as its own YAML text, in order."""
    import yaml

    try:
        with open(path) as f:
            docs = list(yaml.safe_load_all(f))
    except (OSError, yaml.YAMLError) as e:
        die("%s: %s" % (path, e))
    out = []
    for i, doc in enumerate(docs):
        if doc is None:
            continue
        kind = doc.get("document") if isinstance(doc, dict) else None
        if kind != "modulemd":
            note("%s: skipping document %d (document: %s)" % (path, i + 1, kind))
            continue
        out.append(("%s#%d" % (path, i + 1), yaml.safe_dump(doc, sort_keys=False)))
    if not out:
        die("%s: no modulemd document" % path)
    return out


def parse_state(s):
    from module_build_service.common import models

    states = models.BUILD_STATES
    if s.isdigit():
        n = int(s)
        if n not in states.values():
            die("unknown state %s (MBS knows %s)" % (s, sorted(states.values())))
        return n
    if s not in states:
        die("unknown state %r (MBS knows %s)" % (s, ", ".join(sorted(states))))
    return states[s]


def parse_final_modulemds(specs):
    """--final-modulemd ARCH=FILE pairs -> [(arch, text)]."""
    out = []
    seen = set()
    for spec in specs or []:
        arch, sep, path = spec.partition("=")
        if not sep or not arch or not path or "/" in arch or arch.startswith("."):
            die("--final-modulemd %r: give ARCH=FILE" % spec)
        if arch in seen:
            die("--final-modulemd: arch %s given twice" % arch)
        seen.add(arch)
        try:
            with open(path) as f:
                out.append((arch, f.read()))
        except OSError as e:
            die("--final-modulemd %s: %s" % (spec, e))
    return out


def parse_components(specs):
    """--component NAME:TASK_ID:NVR[:STATE] -> [(name, task_id, nvr, state)]."""
    import koji

    out = []
    for spec in specs or []:
        parts = spec.split(":")
        if len(parts) not in (3, 4) or not all(parts[:3]) or not parts[1].isdigit():
            die("--component %r: give NAME:TASK_ID:NVR[:STATE]" % spec)
        state = koji.BUILD_STATES["COMPLETE"]
        if len(parts) == 4:
            st = parts[3]
            if st.isdigit() and int(st) in koji.BUILD_STATES.values():
                state = int(st)
            elif st.upper() in koji.BUILD_STATES:
                state = koji.BUILD_STATES[st.upper()]
            else:
                die("--component %r: unknown Koji build state %r (Koji knows %s)"
                    % (spec, st, ", ".join(sorted(koji.BUILD_STATES))))
        out.append((parts[0], int(parts[1]), parts[2], state))
    return out


def final_modulemd_dir(dir_, build_id):
    return os.path.join(dir_, "final-modulemd", str(build_id))


def store_final_modulemds(dir_, build, given_context, pairs, where):
    """Writes DIR/final-modulemd/<ID>/<ARCH>.yaml, each document normalized
    the way MBS emits modulemd (load_mmd + mmd_to_str). A document whose
    context is the imported document's own (before a scratch suffix) or none
    gets the build's context."""
    from module_build_service.common.errors import UnprocessableEntity
    from module_build_service.common.utils import load_mmd, mmd_to_str

    texts = {}
    for arch, text in pairs:
        try:
            mmd = load_mmd(text)
        except UnprocessableEntity as e:
            die("%s: --final-modulemd %s: %s" % (where, arch, e))
        if mmd.get_context() in (None, "", given_context):
            mmd.set_context(build.context)
        texts[arch] = mmd_to_str(mmd)
    d = final_modulemd_dir(dir_, build.id)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for arch, text in texts.items():
        with open(os.path.join(d, arch + ".yaml"), "w") as f:
            f.write(text)


def store_components(session, models, conf, build, mmd, comps):
    """Replaces the build's ComponentBuild rows by `comps`, filled in the way
    MBS's record_component_builds and its Koji builder leave a built one."""
    import koji
    # Registers MBS's backend session hooks (as its scheduler does), among
    # them the one writing a ComponentBuildTrace row per component change.
    import module_build_service.scheduler.db_session  # noqa: F401

    old = session.query(models.ComponentBuild).filter_by(module_id=build.id).all()
    for c in old:
        for t in c.component_builds_trace:
            session.delete(t)
        session.delete(c)
    session.flush()
    xmd_rpms = mmd.get_xmd().get("mbs", {}).get("rpms", {})
    complete = koji.BUILD_STATES["COMPLETE"]
    for name, task_id, nvr, state in comps:
        comp = mmd.get_rpm_component(name)
        repo = comp.get_repository() if comp is not None else None
        repo = repo or conf.rpms_default_repository + name
        ref = (xmd_rpms.get(name) or {}).get("ref") or (comp.get_ref() if comp else None)
        session.add(models.ComponentBuild(
            module_id=build.id,
            package=name,
            format="rpms",
            scmurl="%s?#%s" % (repo, ref or ""),
            ref=ref,
            task_id=task_id,
            nvr=nvr,
            state=state,
            batch=2,
            tagged=state == complete,
            tagged_in_final=state == complete,
            buildonly=bool(comp.get_buildonly()) if comp is not None else False,
        ))
    session.commit()


def newest_build(db_session, models, name, stream):
    """The newest build of name:stream, ready ones preferred (MBS's resolver
    takes the newest ready one)."""
    builds = db_session.query(models.ModuleBuild).filter_by(name=name, stream=stream).all()
    if not builds:
        return None

    def key(b):
        try:
            v = int(b.version)
        except (TypeError, ValueError):
            v = -1
        return (b.state == models.BUILD_STATES["ready"], v, b.id)

    return max(builds, key=key)


def fill_buildrequires(db_session, models, conf, mmd, where):
    """Fills xmd.mbs.buildrequires for the buildrequired modules the document
    does not describe itself, the way MBS's DBResolver.resolve_requires does."""
    xmd = mmd.get_xmd()
    mbs = xmd.setdefault("mbs", {})
    mbs.setdefault("mse", True)
    brs = mbs.setdefault("buildrequires", {})
    deps = mmd.get_dependencies()
    if len(deps) > 1:
        die("%s: MBS imports only streams with one dependencies entry (got %d)"
            % (where, len(deps)))
    if deps:
        dep = deps[0]
        for name in dep.get_buildtime_modules():
            if name in brs:
                continue
            streams = [s for s in dep.get_buildtime_streams(name) if not s.startswith("-")]
            if len(streams) > 1:
                die("%s: buildrequires %s: [%s]: give one stream (or "
                    "xmd.mbs.buildrequires.%s)" % (where, name, ", ".join(streams), name))
            if streams:
                build = newest_build(db_session, models, name, streams[0])
            else:
                cands = [b for b in db_session.query(models.ModuleBuild).filter_by(name=name)]
                build = newest_build(db_session, models, name, cands[0].stream) if cands else None
            if build is None:
                what = "%s:%s" % (name, streams[0] if streams else "*")
                die("%s: buildrequires %s, which is not in the database: import it first "
                    "(or give xmd.mbs.buildrequires.%s)" % (where, what, name))
            bxmd = build.mmd().get_xmd().get("mbs", {})
            brs[name] = {
                "ref": bxmd.get("commit"),
                "stream": build.stream,
                "version": build.version,
                "context": build.context,
                "koji_tag": build.koji_tag,
            }
    mmd.set_xmd(xmd)
    return [bm for bm in conf.base_module_names if bm in brs]


def cmd_import(argv):
    ap = argparse.ArgumentParser(prog="mbs-peer import")
    ap.add_argument("dir")
    ap.add_argument("--state")
    ap.add_argument("--koji-tag", dest="koji_tag")
    ap.add_argument("--scratch", action="store_true")
    ap.add_argument("--final-modulemd", dest="final_modulemd", action="append",
                    metavar="ARCH=FILE")
    ap.add_argument("--component", dest="component", action="append",
                    metavar="NAME:TASK_ID:NVR[:STATE]")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args(argv)

    dir_ = os.path.abspath(args.dir)
    if not (os.path.isfile(os.path.join(dir_, "config.py"))
            and os.path.isfile(os.path.join(dir_, "mbs.db"))):
        die("%s is not initialized: run `scripts/mbs-peer init %s` first" % (dir_, args.dir))
    use_config(dir_)
    quiet_mbs_logs()

    from module_build_service import app, db
    from module_build_service.common import conf, models
    from module_build_service.common.errors import UnprocessableEntity
    from module_build_service.common.utils import import_mmd, load_mmd

    # MBS leaves scratch builds in "done": only normal builds move on to "ready".
    state = parse_state(args.state or ("done" if args.scratch else "ready"))
    finals = parse_final_modulemds(args.final_modulemd)
    comps = parse_components(args.component)

    docs = []
    for path in args.files:
        docs.extend(split_documents(path))
    if (finals or comps) and len(docs) != 1:
        die("--final-modulemd and --component need exactly one modulemd document "
            "(got %d)" % len(docs))

    streams = []
    for where, text in docs:
        try:
            mmd = load_mmd(text)
        except UnprocessableEntity as e:
            die("%s: %s" % (where, e))
        streams.append((where, mmd))
    # Base modules first: the others' base_module_buildrequires point at them.
    streams.sort(key=lambda wm: wm[1].get_module_name() not in conf.base_module_names)

    with app.app_context():
        session = db.session
        for where, mmd in streams:
            if args.koji_tag is not None:
                xmd = mmd.get_xmd()
                xmd.setdefault("mbs", {})["koji_tag"] = args.koji_tag
                mmd.set_xmd(xmd)
            base_brs = fill_buildrequires(session, models, conf, mmd, where)
            if not mmd.get_context():
                mmd.set_context(models.DEFAULT_MODULE_CONTEXT)
            given_context = mmd.get_context()
            if args.scratch:
                # As MBS's submit_module_build does for every scratch build:
                # "_<n>" appended, n counting the scratch builds of this
                # N:S:V whose context starts with this one.
                prev = models.ModuleBuild.get_scratch_builds_from_nsvc(
                    session, mmd.get_module_name(), mmd.get_stream_name(),
                    str(mmd.get_version()), given_context)
                mmd.set_context("%s_%d" % (given_context, len(prev) + 1))
            try:
                build, _msgs = import_mmd(session, mmd)
            except UnprocessableEntity as e:
                session.rollback()
                die("%s: %s" % (where, e))
            if args.scratch:
                build.scratch = True
                if build.koji_tag is None:
                    # What MBS's Koji builder names a scratch build's tag.
                    from module_build_service.builder.KojiModuleBuilder import (
                        KojiModuleBuilder)

                    build.koji_tag = KojiModuleBuilder.generate_koji_tag(
                        build.name, build.stream, build.version, build.context,
                        scratch=True, scratch_id=build.id)
                session.commit()
            got = {b.name for b in build.buildrequires}
            missing = [bm for bm in base_brs if bm not in got]
            if missing:
                session.rollback()
                die("%s: its xmd.mbs.buildrequires names base module(s) %s whose N:S:V:C is "
                    "not in the database: import them first" % (where, ", ".join(missing)))
            if build.state != state:
                build.state = state
                session.commit()
            if comps:
                store_components(session, models, conf, build, mmd, comps)
            if finals:
                store_final_modulemds(dir_, build, given_context, finals, where)
            print("%d %s:%s:%s:%s %d %s" % (
                build.id, build.name, build.stream, build.version, build.context,
                build.state, build.koji_tag or "-"))
            sys.stdout.flush()


# --- run: the app `scripts/mbs-peer run` serves -----------------------------------

FINAL_MODULEMD_PATH = re.compile(r"^/module-build-service/[0-9]+/final-modulemd/([0-9]+)$")
# What MBS's FinalModulemdAPI answers (400) when conf.system is not "koji",
# after it has checked the API version and that the build exists.
NO_FINAL_MODULEMD_BUILDER = "Configured builder not able to generate final modulemds!"


class PeerMiddleware:
    """Wrapped around MBS's own wsgi_app. Everything goes to MBS; only where
    MBS's FinalModulemdAPI would ask Koji (conf.system "koji") for the tag's
    arches and RPMs and answer {arch: modulemd}, i.e. where the peer's MBS
    answers 400 NO_FINAL_MODULEMD_BUILDER, the answer is built from
    DIR/final-modulemd/<ID>/<ARCH>.yaml, with MBS's own jsonify, when that
    directory exists."""

    def __init__(self, app, wsgi_app, dir_):
        self.app = app
        self.wsgi_app = wsgi_app
        self.dir = dir_

    def __call__(self, environ, start_response):
        m = FINAL_MODULEMD_PATH.match(environ.get("PATH_INFO", ""))
        if not m or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self.wsgi_app(environ, start_response)
        got = {}
        chunks = []

        def capture(status, headers, exc_info=None):
            got["status"], got["headers"] = status, headers
            return chunks.append

        head = environ["REQUEST_METHOD"] == "HEAD"
        # MBS's answer to GET decides (a HEAD answer has no body to read).
        it = self.wsgi_app(dict(environ, REQUEST_METHOD="GET") if head else environ, capture)
        try:
            chunks.extend(it)
        finally:
            if hasattr(it, "close"):
                it.close()
        body = b"".join(chunks)
        finals = None
        if got["status"].startswith("400"):
            try:
                message = json.loads(body).get("message")
            except ValueError:
                message = None
            if message == NO_FINAL_MODULEMD_BUILDER:
                finals = self.final_modulemds(int(m.group(1)))
        if finals is None:
            start_response(got["status"], got["headers"])
            return [b""] if head else [body]
        from flask import jsonify

        with self.app.app_context():
            resp = jsonify(finals)
        return resp(environ, start_response)

    def final_modulemds(self, build_id):
        d = final_modulemd_dir(self.dir, build_id)
        if not os.path.isdir(d):
            return None
        out = {}
        for name in sorted(os.listdir(d)):
            if name.endswith(".yaml"):
                with open(os.path.join(d, name)) as f:
                    out[name[:-len(".yaml")]] = f.read()
        return out


# PostgreSQL's boolean input (what a production MBS's database makes of the
# string of `?scratch=VALUE`, which SQLAlchemy binds as VARCHAR; SQLite
# would compare e.g. 'true' with the stored 1 and match nothing).
SCRATCH_EQ = re.compile(r"\bmodule_builds\.scratch = \?")


def pg_bool(value):
    """1/0 for what PostgreSQL's boolin accepts (case-insensitive, blanks
    around ignored: unique prefixes of true/false/yes/no, on, of(f), 1, 0),
    None for what it refuses."""
    s = value.strip().lower()
    if not s:
        return None
    for word, b in (("true", 1), ("false", 0), ("yes", 1), ("no", 0)):
        if word.startswith(s):
            return b
    return {"on": 1, "of": 0, "off": 0, "1": 1, "0": 0}.get(s)


def scratch_as_postgresql(conn, cursor, statement, parameters, context, executemany):
    if executemany or "module_builds.scratch = ?" not in statement \
            or not isinstance(parameters, (tuple, list)):
        return statement, parameters
    params = list(parameters)
    for m in SCRATCH_EQ.finditer(statement):
        i = statement.count("?", 0, m.end()) - 1
        if 0 <= i < len(params) and isinstance(params[i], str):
            b = pg_bool(params[i])
            if b is not None:
                params[i] = b
    return statement, type(parameters)(params)


def create_app():
    """The MBS app (configured by MBS_CONFIG_FILE, DIR/config.py) with the
    peer's middleware; `flask --app 'mbs_peer:create_app()'` calls this."""
    dir_ = os.path.dirname(os.path.abspath(os.environ["MBS_CONFIG_FILE"]))
    from sqlalchemy import event
    from module_build_service import app, db

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", scratch_as_postgresql, retval=True)
    app.wsgi_app = PeerMiddleware(app, app.wsgi_app, dir_)
    return app


def main():
    if len(sys.argv) < 2:
        die(__doc__, 2)
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "check":
        cmd_check(rest)
    elif cmd == "stub-pungi":
        cmd_stub_pungi()
    elif cmd == "init" and len(rest) == 1:
        cmd_init(rest[0])
    elif cmd == "import":
        cmd_import(rest)
    else:
        die(__doc__, 2)


if __name__ == "__main__":
    main()
