"""Python half of scripts/mbs-peer (see its header for the interface).

Runs inside the MBS venv (module-build-service==3.9.2), never imports MBS at
module level: MBS reads its configuration (MBS_CONFIG_FILE /
MBS_CONFIG_SECTION) at import time, so each command sets those first.

    mbs_peer.py check PIN...        exit 0 when MBS imports with these pins
    mbs_peer.py stub-pungi          put a pungi.arch stub in site-packages
    mbs_peer.py init DIR
    mbs_peer.py import DIR [--state S] [--koji-tag TAG] FILE...
"""

import argparse
import os
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
    ap.add_argument("--state", default="ready")
    ap.add_argument("--koji-tag", dest="koji_tag")
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

    state = parse_state(args.state)

    docs = []
    for path in args.files:
        docs.extend(split_documents(path))

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
            try:
                build, _msgs = import_mmd(session, mmd)
            except UnprocessableEntity as e:
                session.rollback()
                die("%s: %s" % (where, e))
            got = {b.name for b in build.buildrequires}
            missing = [bm for bm in base_brs if bm not in got]
            if missing:
                session.rollback()
                die("%s: its xmd.mbs.buildrequires names base module(s) %s whose N:S:V:C is "
                    "not in the database: import them first" % (where, ", ".join(missing)))
            if build.state != state:
                build.state = state
                session.commit()
            print("%d %s:%s:%s:%s %d %s" % (
                build.id, build.name, build.stream, build.version, build.context,
                build.state, build.koji_tag or "-"))
            sys.stdout.flush()


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
