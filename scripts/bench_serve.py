#!/usr/bin/env python3
"""POST -> done through `odcs serve`: a first compose, then COMPOSES different
100-package requests from the same tag, each timed from the POST to the
moment the API says `done` (polled every 2 ms), and the service's peak and
current RSS after them. Between the first compose and the others, it waits
until the service has read whole, in the background, the candidates the
first compose read only to their headers (RACE=1 does not wait). Called by scripts/bench-compose; prints a table and
writes the figures as JSON.

    bench_serve.py ODCS STORE WORKDIR TAG NAMES_FILE OUT_JSON
"""
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

odcs, store, work, tag, names_file, out_json = sys.argv[1:7]
composes = int(os.environ.get("COMPOSES", "20"))
names = [n for n in open(names_file).read().split() if n]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


port = free_port()
base = f"http://127.0.0.1:{port}"
data = os.path.join(work, "serve-data")
subprocess.run(["rm", "-rf", data], check=True)
os.makedirs(data)
# the header cache outlives the runs: "first" is a new process over a warm
# disk cache, as after a restart
cache = os.path.join(work, "serve-cache")
env = dict(os.environ, ODCS_STORE_DIR=store, ODCS_DATA_DIR=data, ODCS_CACHE_DIR=cache)
log = open(os.path.join(work, "serve.log"), "w")
proc = subprocess.Popen(
    [odcs, "serve", "--listen", f"127.0.0.1:{port}", "--log", "warn"],
    env=env, stdout=log, stderr=log)


def call(method, path, body=None):
    req = urllib.request.Request(
        base + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.load(r)


def rss():
    out = {}
    for line in open(f"/proc/{proc.pid}/status"):
        if line.startswith(("VmHWM", "VmRSS", "RssAnon", "RssFile")):
            k, v = line.split(":")
            out[k] = int(v.split()[0]) // 1024
    return out


# the highest RSS seen in each stage (sampled every 20 ms): where the peak is
stage = {"name": "start"}
stage_peaks = {}
timeline = []  # (seconds, MB, file-backed MB, stage): written to $TIMELINE if set
t_start = time.monotonic()


def sample_rss():
    while proc.poll() is None:
        try:
            status = rss()
            now, file_backed = status["VmRSS"], status["RssFile"]
        except (OSError, KeyError):
            return  # the process is gone (a zombie's status has no VmRSS)
        name = stage["name"]
        stage_peaks[name] = max(stage_peaks.get(name, 0), now)
        timeline.append((round(time.monotonic() - t_start, 3), now, file_backed, name))
        time.sleep(0.02)


threading.Thread(target=sample_rss, daemon=True).start()


def phases():
    text = urllib.request.urlopen(base + "/api/1/metrics/").read().decode()
    return {
        line.split('"')[1]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("odcs_compose_phase_seconds_sum")
    }


def metric(name):
    text = urllib.request.urlopen(base + "/api/1/metrics/").read().decode()
    return next(float(l.split()[1]) for l in text.splitlines() if l.startswith(name + " "))


def compose(packages):
    t0 = time.monotonic()
    c = call("POST", "/api/1/composes/",
             {"source": {"type": "tag", "source": tag, "packages": packages}})
    while c["state_name"] not in ("done", "failed"):
        time.sleep(0.002)
        c = call("GET", f"/api/1/composes/{c['id']}")
    took = time.monotonic() - t0
    if c["state_name"] != "done":
        sys.exit(f"compose {c['id']} failed: {c.get('state_reason')}")
    return took


try:
    for _ in range(300):
        try:
            call("GET", "/api/1/about/")
            break
        except OSError:
            time.sleep(0.1)
    step = max(1, len(names) // 100)
    stage["name"] = "first"
    first = compose(names[::step][:100])
    # the service reads whole, in the background, the candidates the first
    # compose read only to their headers; the warm composes are timed once
    # that is done (RACE=1: at once, racing it)
    t0 = time.monotonic()
    stage["name"] = "completion"
    if os.environ.get("RACE") != "1":
        while metric("odcs_resident_completing") != 0:
            time.sleep(0.2)
    completion = time.monotonic() - t0
    before = phases()
    # PERF=FILE: `perf record` the service over the warm composes
    perf = os.environ.get("PERF") and subprocess.Popen(
        ["perf", "record", "-F", "1999", "-g", "-p", str(proc.pid), "-o", os.environ["PERF"]],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times = []
    stage["name"] = "warm"
    for i in range(1, composes + 1):
        # a different 100 names each time: another offset into the list
        pick = names[i % step::step][:100] if step > 1 else names[i:i + 100]
        times.append(compose(pick))
    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait()
    after = rss()
    stage["name"] = "end"
    end = phases()
    per_phase = {k: (end[k] - before.get(k, 0)) / composes for k in end}
    metrics = urllib.request.urlopen(base + "/api/1/metrics/").read().decode()
    figures = {
        line.split()[0]: float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith(("odcs_resident_", "odcs_rpm_files_read_total",
                            "odcs_compose_phase_seconds_sum"))
    }
finally:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)

result = {
    "first": first, "completion": completion, "warm": times, "median": statistics.median(times),
    "min": min(times), "max": max(times),
    "phases": per_phase, "peak_rss_mb": after["VmHWM"], "stage_peak_rss_mb": stage_peaks, "rss_mb": after["VmRSS"], "metrics": figures,
}
json.dump(result, open(out_json, "w"), indent=1)
if os.environ.get("TIMELINE"):
    with open(os.environ["TIMELINE"], "w") as f:
        f.writelines(f"{t} {mb} {fb} {name}\n" for t, mb, fb, name in timeline)
print(f"\n`odcs serve`, POST -> done, {composes} different 100-package requests after a first one")
print("| run | time (s) |\n|---|---|")
print(f"| first (cold process, warm disk caches) | {first:.3f} |")
print(f"| then the background completion (waited for unless RACE=1) | {completion:.3f} |")
print(f"| warm, median (min-max) | {result['median']:.3f} ({result['min']:.3f}-{result['max']:.3f}) |")
print("warm, mean per phase (s): " + ", ".join(f"{k} {v:.3f}" for k, v in per_phase.items()))
print(f"\nservice RSS after them: {after['VmRSS']} MB (anonymous {after['RssAnon']} MB, file-backed {after['RssFile']} MB), peak {after['VmHWM']} MB")
print("peak RSS sampled in each stage: " + ", ".join(
    f"{k} {stage_peaks[k]} MB" for k in ("first", "completion", "warm") if k in stage_peaks))
for k in sorted(figures):
    if k.startswith(("odcs_resident_bytes", "odcs_resident_records",
                     "odcs_resident_tag_", "odcs_rpm_files")):
        print(f"  {k} {figures[k]:.0f}")
