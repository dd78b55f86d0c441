#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# amctl against a known arena (tests/amctl/fixture.c): every subcommand, its JSON parsed
# and compared, exit codes, the SVG parsed as XML, gc after kill -9 of a subscriber
# holding samples, rm refusing while a participant lives, top's rates while the fixture
# publishes, echo decoding to JSON and refusing a topic that does not exist (never
# creating it), a corrupted arena, orphaned lock files removed by gc and rm.
#   tests/amctl/run.sh AMCTL FIXTURE WORKDIR
set -euo pipefail
amctl=$1 fixture=$2 work=$3
name=amctltest-$$
src=$(cd "$(dirname "$0")/../.." && pwd)   # the source tree (for the directory magic)
rm -rf "$work" && mkdir -p "$work"
cleanup() {
    [ -n "${fpid:-}" ] && kill "$fpid" 2>/dev/null
    rm -f "/dev/shm/am.$name" "/dev/shm/am.$name-bad" "/dev/shm/am.$name-foreign" "/dev/shm/am.$name-fifo" \
          "/dev/shm/am.$name-trunc" /dev/shm/amlock."$name".* /dev/shm/amlock."$name"-*
}
trap cleanup EXIT
coproc FIX { exec "$fixture" "$name"; }
fpid=$FIX_PID
read -r -t 20 line <&"${FIX[0]}"
[ "$line" = ready ] || { echo "FAIL: fixture said '$line'"; exit 1; }
py() { "${PYTHON3:-python3}" -c "$1" "${@:2}"; }
# Have the fixture publish a Reading now and then until the echo started in the
# background ($1) has printed its sample and exited (it may attach late on a busy box).
publish_until_done() {
    while kill -0 "$1" 2>/dev/null; do kill -USR1 "$fpid"; sleep 0.2; done
    wait "$1"
}
fail() { echo "FAIL: $*"; exit 1; }

# ls: our arena with one live and one dead participant; a file that is not an arena
# is left alone and not listed
echo "not an arena" > "/dev/shm/am.$name-foreign"
"$amctl" ls --json > "$work/ls.json"
py 'import json,sys; assert not [x for x in json.load(open(sys.argv[1])) if x["name"].endswith("-foreign")]' "$work/ls.json" ||
    fail "ls lists a foreign file"
[ "$(cat "/dev/shm/am.$name-foreign")" = "not an arena" ] || fail "ls touched a foreign file"
py 'import json,sys; a=[x for x in json.load(open(sys.argv[1])) if x["name"]==sys.argv[2]][0]
assert a["live"]==1 and a["dead"]==1 and a["state"]=="ok" and a["mode"]=="0600" and a["used"]>0, a
ps=a["participants"]; assert len(ps)==2 and all(p["process"]=="amctl_fixture" and p["node"]=="" for p in ps), ps
assert sorted(p["alive"] for p in ps)==[False, True] and all(p["pid"]>0 for p in ps), ps' "$work/ls.json" "$name" ||
    fail "ls --json"
"$amctl" ls | grep "^$name " | grep -q "amctl_fixture([0-9]*), amctl_fixture([0-9]* dead)" || { "$amctl" ls; fail "ls: process names"; }
echo "ok: ls"

# stat: what the dead child owns (10 blocks of 50 000 bytes) shows as held by dead
"$amctl" stat "$name" --json > "$work/stat1.json"
py 'import json,sys; s=json.load(open(sys.argv[1]))
assert s["dead_blocks"]==10 and s["held_by_dead"]>=10*50000 and s["dead"]==1 and s["live"]==1, s
assert s["used"]+s["free"]+s["held_by_dead"]==s["heap"] and len(s["per_sector"])==s["sectors"], s
assert 0 < s["fragmentation"] < 1 and not s["corrupt"], s' "$work/stat1.json" || fail "stat --json"
"$amctl" stat "$name" | grep -q "held by dead" || fail "stat text"
echo "ok: stat"

# map: rows of cells, an X (held by dead) somewhere; the SVG is XML with sectors*width cells
"$amctl" map "$name" --width 32 --json > "$work/map.json"
py 'import json,sys; m=json.load(open(sys.argv[1])); s=json.load(open(sys.argv[2]))
assert len(m["sectors"])==s["sectors"] and all(len(r)==32 for r in m["sectors"]), m
assert any("d" in r for r in m["sectors"]) and any("u" in r for r in m["sectors"]) and any("f" in r for r in m["sectors"])' \
    "$work/map.json" "$work/stat1.json" || fail "map --json"
"$amctl" map "$name" --width 20 --svg "$work/map.svg" > /dev/null
py 'import sys, xml.etree.ElementTree as ET, json; t=ET.parse(sys.argv[1]); s=json.load(open(sys.argv[2]))
cells=[e for e in t.iter("{http://www.w3.org/2000/svg}rect") if e.get("class")=="cell"]
assert len(cells)==20*s["sectors"], len(cells)' "$work/map.svg" "$work/stat1.json" || fail "map --svg"
"$amctl" map "$name" | grep -q "X" || fail "map text (piped: plain characters)"
echo "ok: map"

# topics: the typed topic, our live subscriber holding 3, the dead one holding 2
"$amctl" topics "$name" --json > "$work/topics.json"
py 'import json,sys; t=[x for x in json.load(open(sys.argv[1])) if x["name"]=="readings"][0]
assert t["type"]=="am.calc.Reading" and t["schema_bytes"]>0, t
subs=[p for p in t["ports"] if p["role"]=="subscriber"]
live=[p for p in subs if p["alive"]]; dead=[p for p in subs if not p["alive"]]
assert len(live)==1 and live[0]["held"]==3 and live[0]["policy"]=="drop-oldest", subs
assert len(dead)==1 and dead[0]["held"]==2 and dead[0]["queued"]==3 and dead[0]["oldest_held_ns"]>0, subs
assert [p for p in t["ports"] if p["role"]=="publisher"][0]["sent"]==5
assert all(p["process"]=="amctl_fixture" and p["node"]=="" for p in t["ports"]), t["ports"]
assert all(p["sample_bytes"]==p["queued_bytes"]+p["held_bytes"] for p in t["ports"]), t["ports"]
assert dead[0]["queued_bytes"]>0 and live[0]["held_bytes"]>0 and live[0]["queue_capacity"]==8, subs
pub=[p for p in t["ports"] if p["role"]=="publisher"][0]; assert pub["payload_bytes"]>0 and pub["payload_bytes"]%5==0, pub
assert live[0]["payload_bytes"]==pub["payload_bytes"], (live, pub)   # took all five
by=t["sample_bytes_by_pid"]
assert sum(x["sample_bytes"] for x in by)==sum(p["sample_bytes"] for p in t["ports"]) and len(by)==2, by
assert all(x["process"]=="amctl_fixture" for x in by), by' \
    "$work/topics.json" || fail "topics --json"
"$amctl" topics "$name" | grep -q "subscriber pid [0-9]* *amctl_fixture *DEAD" || { "$amctl" topics "$name"; fail "topics: process names"; }
# services: calc's rpcs with their types, from the schema its typed server recorded
"$amctl" services "$name" --json > "$work/services.json"
py 'import json,sys; s={x["name"]: x for x in json.load(open(sys.argv[1]))}; assert len(s)==3, s; c=s["calc"]
assert c["name"]=="calc" and c["type"]=="am.calc.Calc" and c["schema_bytes"]>0 and c["schema_error"] is None, c
assert c["methods"]==[{"id": 1, "name": "Add", "request": "am.calc.Pair", "response": "am.calc.Number"},
                      {"id": 2, "name": "Shout", "request": "am.calc.Text", "response": "am.calc.Text"}], c["methods"]
assert [p["role"] for p in c["ports"]]==["server"] and c["ports"][0]["alive"], c["ports"]
# hostile schemas: said so, names sanitised
g, e = s["garbled"], s["evil"]
assert g["methods"]==[] and "not a FileDescriptorSet" in g["schema_error"], g
assert e["methods"]==[{"id": 1, "name": "?[2J", "request": "x", "response": "?"}] and e["schema_error"] is None, e' \
    "$work/services.json" || fail "services --json"
"$amctl" services "$name" > "$work/services.txt"
grep -q '^service calc  type am.calc.Calc' "$work/services.txt" &&
    grep -q '^  method 1 *Add(am.calc.Pair) returns am.calc.Number$' "$work/services.txt" &&
    grep -q '^  method 2 *Shout(am.calc.Text) returns am.calc.Text$' "$work/services.txt" &&
    grep -q '^  methods unknown: the recorded schema is not a FileDescriptorSet$' "$work/services.txt" &&
    ! grep -q $'\x1b' "$work/services.txt" ||
    { cat "$work/services.txt"; fail "services text"; }
echo "ok: topics, services"

# rm refuses while the fixture lives
set +e; "$amctl" rm "$name" > /dev/null 2>&1; rc=$?; set -e
[ $rc -eq 3 ] && [ -e "/dev/shm/am.$name" ] || fail "rm with a live participant: exit $rc"
echo "ok: rm refuses"

# gc: exactly what the dead child owned, plus the samples and queue only its port held
"$amctl" stat "$name" --json > "$work/before.json"
"$amctl" gc "$name" --json > "$work/gc.json"
"$amctl" stat "$name" --json > "$work/after.json"
"$amctl" topics "$name" --json > "$work/topics2.json"
py 'import json,sys; b,g,a,t,t1=(json.load(open(f)) for f in sys.argv[1:6])
assert g["held_by_dead"]==b["held_by_dead"] and g["dead_blocks"]==10 and g["dead_ports"]==1, (g,b)
assert a["held_by_dead"]==0 and a["dead"]==0, a
dead=[p for x in t1 for p in x["ports"] if not p["alive"]][0]
# exactly the two samples only it held (the three queued are ours too); its rx block and
# link stay until the live publisher, which holds them, next sends or closes
assert g["freed_port_bytes"]==dead["held_bytes"] and g["used"]==a["used"], (g, dead, a)
assert a["used"]==b["used"]-g["freed_port_bytes"], (b["used"],a["used"],g)
ports=[p for x in t for p in x["ports"]]
assert all(p["alive"] for p in ports) and len(ports)==2, ports' \
    "$work/before.json" "$work/gc.json" "$work/after.json" "$work/topics2.json" "$work/topics.json" || fail "gc"
"$amctl" gc "$name" --json | py 'import json,sys; g=json.load(sys.stdin); assert g["held_by_dead"]==0 and g["dead_ports"]==0' ||
    fail "a second gc"
# the publisher's next send lets go of the dead subscriber's rx block and link: used
# falls by exactly their bytes, less the new sample the live subscriber now holds
kill -USR1 "$fpid"
for _ in $(seq 100); do
    "$amctl" topics "$name" --json > "$work/topics3.json"
    py 'import json,sys; t=json.load(open(sys.argv[1]))[0]; assert [p for p in t["ports"] if p["role"]=="publisher"][0]["sent"]==6' \
        "$work/topics3.json" 2> /dev/null && break
    sleep 0.05
done
"$amctl" stat "$name" --json > "$work/after2.json"
py 'import json,sys; a,a2,t1,t2,t3=(json.load(open(f)) for f in sys.argv[1:6])
dead=[p for x in t1 for p in x["ports"] if not p["alive"]][0]
live=lambda t: [p for x in t for p in x["ports"] if p["role"]=="subscriber"][0]
assert [p for x in t3 for p in x["ports"] if p["role"]=="publisher"][0]["sent"]==6, t3
grew=live(t3)["sample_bytes"]-live(t2)["sample_bytes"]
assert dead["queue_memory_bytes"]>0 and grew>0, (dead, grew)
assert a2["used"]==a["used"]-dead["queue_memory_bytes"]+grew, (a["used"],a2["used"],dead["queue_memory_bytes"],grew)' \
    "$work/after.json" "$work/after2.json" "$work/topics.json" "$work/topics2.json" "$work/topics3.json" ||
    fail "the dead subscriber's queue blocks, after the next send"
echo "ok: gc"

# gc removes orphaned lock files of the name (no arena of theirs), never the arena's
# own, and does so even when no arena of the name is left; ls never lists lock files
orphan="/dev/shm/amlock.$name.0123456789abcdef"
: > "$orphan"
own=$(ls /dev/shm/amlock."$name".* | grep -v 0123456789abcdef)
[ -n "$own" ] && [ -e "$own" ] || fail "no lock file next to the arena"
"$amctl" gc "$name" --json | py 'import json,sys; g=json.load(sys.stdin); assert g["arena"] and g["orphan_lock_files"]==1, g' ||
    fail "gc of an orphaned lock file"
[ ! -e "$orphan" ] && [ -e "$own" ] || fail "gc removed the wrong lock file"
: > "/dev/shm/amlock.$name-gone.0123456789abcdef"
"$amctl" gc "$name-gone" --json | py 'import json,sys; g=json.load(sys.stdin); assert g["arena"] is False and g["orphan_lock_files"]==1, g' ||
    fail "gc of an orphaned lock file with no arena"
[ ! -e "/dev/shm/amlock.$name-gone.0123456789abcdef" ] || fail "gc left the orphan of a gone arena"
set +e; "$amctl" gc "$name-gone" > /dev/null 2>&1; rc=$?; set -e
[ $rc -eq 1 ] || fail "gc of no arena and no orphan: exit $rc"
"$amctl" ls --json | py 'import json,sys; assert not [x for x in json.load(sys.stdin) if "lock" in x["name"]]' ||
    fail "ls lists a lock file"
echo "ok: orphaned lock files"

# echo (after gc: attaching joins the arena, and joining cleans up after the dead)
# a Reading decoded by field name, the same with --raw, as hex on a raw topic
"$amctl" echo "$name" readings --count 1 --seconds 10 > "$work/echo.txt" &
epid=$!
publish_until_done "$epid"
grep -q 'sensor: "imu-left"' "$work/echo.txt" && grep -q 'where {' "$work/echo.txt" && grep -q 'x: 3' "$work/echo.txt" ||
    { cat "$work/echo.txt"; fail "echo by field name"; }
"$amctl" echo "$name" readings --raw --count 1 --seconds 10 > "$work/raw.txt" &
epid=$!
publish_until_done "$epid"
grep -q '^2: "imu-left"' "$work/raw.txt" && grep -q '^4 {' "$work/raw.txt" || { cat "$work/raw.txt"; fail "echo --raw"; }
"$amctl" echo "$name" readings --json --count 1 --seconds 10 > "$work/echo.json" &
epid=$!
publish_until_done "$epid"
# decoded by field name: uint64 as a string (proto3 JSON), bytes as base64, nested and
# repeated fields as an object and a list
py 'import json,sys; e=json.loads(open(sys.argv[1]).readline()); assert e["type"]=="am.calc.Reading" and e["seq"]>5, e
assert e["message"]=={"seq": str(e["seq"]), "sensor": "imu-left", "samples": [1.5, -2.25], "where": {"x": 3, "y": -4},
                      "raw": "AP9h"}, e
assert "hex" not in e and e["len"]>0, e' "$work/echo.json" || { cat "$work/echo.json"; fail "echo --json"; }
"$amctl" echo "$name" readings --json --raw --count 1 --seconds 10 > "$work/echo-raw.json" &
epid=$!
publish_until_done "$epid"
py 'import json,sys; e=json.loads(open(sys.argv[1]).readline()); assert e["len"]*2==len(e["hex"]) and "message" not in e, e' \
    "$work/echo-raw.json" || fail "echo --json --raw: the payload in hex"
echo "ok: echo"

# echo on a topic that does not exist: exit 1 with a message, and nothing created: the
# channel directory (the arena's upper area) is the same byte for byte, and so is what
# topics says (but for the ages of held samples, which grow)
dir_bytes() {
    # the directory's magic, "AMTCDIR" and a version digit (AMC_DIR_MAGIC), read from
    # the header so that a format change cannot turn this into a comparison of nothing
    py 'import sys,re; m=re.search(rb"0x([0-9a-f]{16})ull /\* \"AMTCDIR", open(sys.argv[2],"rb").read())
d=open(sys.argv[1],"rb").read(1<<22); at=d.find(int(m.group(1),16).to_bytes(8,"little"))
assert at>0, "no channel directory found"; sys.stdout.write(d[at:at+65536].hex())' "/dev/shm/am.$name" "$src/channel/channel_layout.h"
}
topics_now() {
    "$amctl" topics "$name" --json | py 'import json,sys; t=json.load(sys.stdin)
for x in t:
    for p in x["ports"]: p.pop("oldest_held_ns")
print(json.dumps(t, sort_keys=True))'
}
before_dir=$(dir_bytes) before_topics=$(topics_now)
set +e; "$amctl" echo "$name" no-such-topic --count 1 --seconds 2 > "$work/missing.out" 2> "$work/missing.err"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q 'no topic "no-such-topic"' "$work/missing.err" && [ ! -s "$work/missing.out" ] ||
    { cat "$work/missing.err"; fail "echo of a missing topic: exit $rc"; }
set +e; "$amctl" echo "$name" no-such-topic --wait --seconds 0.5 > /dev/null 2> "$work/missing.err"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q "appeared in time" "$work/missing.err" || { cat "$work/missing.err"; fail "echo --wait, nothing appearing: exit $rc"; }
[ "$(dir_bytes)" = "$before_dir" ] || fail "echo of a missing topic changed the channel directory"
[ "$(topics_now)" = "$before_topics" ] || fail "echo of a missing topic changed what topics says"
# --wait: echo waits for the topic (created by the fixture on SIGUSR2), then prints
"$amctl" echo "$name" later --wait --count 1 --seconds 20 --json > "$work/later.json" &
epid=$!
sleep 0.5
kill -0 "$epid" 2>/dev/null || fail "echo --wait did not wait"
"$amctl" topics "$name" --json | py 'import json,sys; assert not [x for x in json.load(sys.stdin) if x["name"]=="later"]' ||
    fail "echo --wait created the topic"
kill -USR2 "$fpid"
publish_until_done "$epid"
py 'import json,sys; e=json.loads(open(sys.argv[1]).readline()); assert e["topic"]=="later" and e["hex"]=="6c61746572", e' \
    "$work/later.json" || fail "echo --wait: the sample of the topic that appeared"
echo "ok: echo refuses a missing topic, --wait waits for it"

# top: a line of JSON per refresh with every port; rates never negative, and the
# publisher's non-zero while the fixture publishes (10 a second here)
( while :; do kill -USR1 "$fpid" 2>/dev/null || exit 0; sleep 0.1; done ) &
ppid_=$!
"$amctl" top "$name" --json --count 3 --interval 0.5 > "$work/top.json"
"$amctl" top "$name" --count 1 --interval 0.5 > "$work/top.txt"
kill "$ppid_"; wait "$ppid_" 2>/dev/null || true
py 'import json,sys; lines=open(sys.argv[1]).read().splitlines(); assert len(lines)==3, lines
rates=("msgs_per_s","sent_per_s","received_per_s","bytes_per_s","drops_per_s")
busy=0
for l in lines:
    t=json.loads(l); assert t["arena"]==sys.argv[2] and 0.4 < t["interval_s"] < 2, t
    ch={c["name"]: c for c in t["channels"]}; r=ch["readings"]
    assert r["kind"]=="topic" and r["type"]=="am.calc.Reading", r
    assert sorted(p["role"] for p in r["ports"])==["publisher","subscriber"], r["ports"]
    for p in r["ports"]:
        assert p["alive"] and p["process"]=="amctl_fixture", p
        assert all(p[k] is not None and p[k]>=0 for k in rates), p
        assert 0 <= p["queue_fill"] <= 1 and p["sample_bytes"]>=0, p
    assert all(r[k]>=0 for k in ("msgs_per_s","bytes_per_s","drops_per_s")), r
    pub=[p for p in r["ports"] if p["role"]=="publisher"][0]
    sub=[p for p in r["ports"] if p["role"]=="subscriber"][0]
    assert sub["queue_capacity"]==8 and sub["queue_fill"]==sub["queued"]/8, sub
    if pub["sent_per_s"]>0:
        busy+=1
        assert pub["bytes_per_s"]>0 and r["msgs_per_s"]==pub["sent_per_s"] and r["bytes_per_s"]==pub["bytes_per_s"], r
assert busy>=2, lines' "$work/top.json" "$name" || { cat "$work/top.json"; fail "top --json"; }
grep -q "topic readings" "$work/top.txt" && grep -q "publisher #0 pid [0-9]* *amctl_fixture" "$work/top.txt" &&
    ! grep -q $'\033' "$work/top.txt" || { cat "$work/top.txt"; fail "top (piped: a plain table)"; }
# SIGINT and SIGTERM end it cleanly
for sig in INT TERM; do
    "$amctl" top "$name" --interval 0.2 > "$work/top-sig.txt" &
    tpid=$!
    sleep 1.5
    kill -"$sig" "$tpid"
    set +e; wait "$tpid"; rc=$?; set -e
    [ $rc -eq 0 ] && grep -q "topic readings" "$work/top-sig.txt" || fail "top after SIG$sig: exit $rc"
done
echo "ok: top"

# echo on a service: a request and its reply, decoded by method (the fixture makes a
# slow call of Add(2, 3) per SIGHUP, in sight for 0.6 s; echo watches read-only)
call_until_done() {
    while kill -0 "$1" 2>/dev/null; do kill -HUP "$fpid"; sleep 0.3; done
    wait "$1"
}
"$amctl" echo "$name" calc --count 2 --seconds 20 > "$work/echo-svc.txt" &
epid=$!
call_until_done "$epid"
grep -q '^# calc request Add (method 1), call 1, .* type am.calc.Pair$' "$work/echo-svc.txt" &&
    grep -q '^a: 2$' "$work/echo-svc.txt" && grep -q '^b: 3$' "$work/echo-svc.txt" &&
    grep -q '^# calc reply Add (method 1), call 1, .* type am.calc.Number$' "$work/echo-svc.txt" &&
    grep -q '^value: 5$' "$work/echo-svc.txt" || { cat "$work/echo-svc.txt"; fail "echo on a service"; }
"$amctl" echo "$name" calc --json --count 2 --seconds 20 > "$work/echo-svc.json" &
epid=$!
call_until_done "$epid"
py 'import json,sys; e=[json.loads(l) for l in open(sys.argv[1])]; assert len(e)==2, e
assert sorted(x["kind"] for x in e)==["reply", "request"] and all(x["service"]=="calc" and x["rpc"]=="Add" and x["method"]==1 for x in e), e
q=[x for x in e if x["kind"]=="request"][0]; r=[x for x in e if x["kind"]=="reply"][0]
# decoded by field name as echo --json on a topic decodes (int64 as strings)
assert q["type"]=="am.calc.Pair" and q["message"]=={"a": "2", "b": "3"} and "hex" not in q, q
assert r["type"]=="am.calc.Number" and r["message"]=={"value": "5"} and r["status"]==0, r' \
    "$work/echo-svc.json" || { cat "$work/echo-svc.json"; fail "echo --json on a service"; }
echo "ok: echo on a service"

# a corrupted copy: stat says so (exit 2), nothing crashes
cp "/dev/shm/am.$name" "/dev/shm/am.$name-bad"
py 'import sys,json; f=open(sys.argv[1],"r+b"); s=json.load(open(sys.argv[2]))
heap=s["heap_offset"]; f.seek(heap+16); f.write(b"\xff"*64)' "/dev/shm/am.$name-bad" "$work/after.json"
set +e; "$amctl" stat "$name-bad" > /dev/null 2>&1; rc=$?; set -e
[ $rc -eq 2 ] || fail "stat of a corrupted arena: exit $rc"
"$amctl" map "$name-bad" > /dev/null && "$amctl" topics "$name-bad" > /dev/null && "$amctl" ls > /dev/null || fail "corrupted: a crash"
# 60 copies with random bytes flipped anywhere past the header (sector table, upper
# area with the directory, heap): every read command ends with a status, never a signal
for i in $(seq 1 60); do
    cp "/dev/shm/am.$name" "/dev/shm/am.$name-bad"
    py 'import sys,random,os; f=open(sys.argv[1],"r+b"); n=os.path.getsize(sys.argv[1]); r=random.Random(int(sys.argv[2]))
used=int(sys.argv[3])
for _ in range(40):
    at=r.randrange(4096, min(n, 4096+2*1024*1024+used)); f.seek(at); f.write(bytes([r.randrange(256)]))' \
        "/dev/shm/am.$name-bad" "$i" "$(py 'import json,sys; print(json.load(open(sys.argv[1]))["used"])' "$work/after.json")"
    for cmd in stat map topics services top; do
        set +e; "$amctl" "$cmd" "$name-bad" --json --count 1 --interval 0.01 > /dev/null 2> "$work/err.txt"; rc=$?; set -e
        [ $rc -le 3 ] || fail "$cmd on scribbled copy $i: status $rc (a signal?)"
        ! grep -q "Sanitizer\|runtime error" "$work/err.txt" || { cat "$work/err.txt"; fail "$cmd on scribbled copy $i"; }
    done
done
echo "ok: corrupted arena (and 60 scribbled copies)"

# a FIFO with an arena's name used to hang ls, stat, gc and rm for every user: each
# returns at once (timeout guards a regression), stat/gc/rm with a clear error, ls
# without listing it, and the FIFO is left alone
mkfifo "/dev/shm/am.$name-fifo"
set +e; timeout 10 "$amctl" ls --json > "$work/ls-fifo.json"; rc=$?; set -e
[ $rc -eq 0 ] || fail "ls with a FIFO in /dev/shm: exit $rc (124: it hung)"
py 'import json,sys; assert not [x for x in json.load(open(sys.argv[1])) if x["name"].endswith("-fifo")]' "$work/ls-fifo.json" ||
    fail "ls lists a FIFO"
for cmd in stat gc rm; do
    set +e; timeout 10 "$amctl" "$cmd" "$name-fifo" > /dev/null 2> "$work/fifo.err"; rc=$?; set -e
    [ $rc -eq 1 ] && grep -q "not a regular file" "$work/fifo.err" ||
        { cat "$work/fifo.err"; fail "$cmd of a FIFO: exit $rc (124: it hung)"; }
done
[ -p "/dev/shm/am.$name-fifo" ] || fail "the FIFO was touched"
rm -f "/dev/shm/am.$name-fifo"
echo "ok: a FIFO named like an arena"

# a file truncated to half its header's size: never mapped (no SIGBUS), said so
cp "/dev/shm/am.$name" "/dev/shm/am.$name-trunc"
size=$(stat -c %s "/dev/shm/am.$name-trunc")
truncate -s $((size / 2)) "/dev/shm/am.$name-trunc"
for cmd in stat map topics gc; do
    set +e; timeout 10 "$amctl" "$cmd" "$name-trunc" > /dev/null 2> "$work/trunc.err"; rc=$?; set -e
    [ $rc -eq 1 ] && grep -q "truncated" "$work/trunc.err" && grep -q "$((size / 2)) bytes but its header says $size" "$work/trunc.err" ||
        { cat "$work/trunc.err"; fail "$cmd of a truncated arena: exit $rc"; }
done
set +e; timeout 10 "$amctl" ls --json > "$work/ls-trunc.json"; rc=$?; set -e
[ $rc -eq 0 ] || fail "ls with a truncated arena: exit $rc"
py 'import json,sys; t=[x for x in json.load(open(sys.argv[1])) if x["name"].endswith("-trunc")][0]
assert "corrupt" in t["state"] and t["size"]==int(sys.argv[2])//2, t' "$work/ls-trunc.json" "$size" || fail "ls of a truncated arena"
echo "ok: a truncated arena"

# gc and rm of another user's arena only with --trust (run as root: chown is possible)
if [ "$(id -u)" -eq 0 ]; then
    cp "/dev/shm/am.$name" "/dev/shm/am.$name-trunc"
    chown 65534:65534 "/dev/shm/am.$name-trunc"
    for cmd in gc rm; do
        set +e; "$amctl" "$cmd" "$name-trunc" > /dev/null 2> "$work/owner.err"; rc=$?; set -e
        [ $rc -eq 3 ] && grep -q "owned by uid 65534" "$work/owner.err" || { cat "$work/owner.err"; fail "$cmd of another user's arena: exit $rc"; }
    done
    [ -e "/dev/shm/am.$name-trunc" ] || fail "rm removed another user's arena without --trust"
    set +e; "$amctl" rm "$name-trunc" --force > /dev/null 2>&1; rc=$?; set -e
    [ $rc -eq 3 ] && [ -e "/dev/shm/am.$name-trunc" ] || fail "rm --force removed another user's arena (--trust is the answer)"
    # a copy has no lock file: its participants are judged by the pids they recorded,
    # and the fixture's is alive, so --force too
    "$amctl" rm "$name-trunc" --trust --force > /dev/null || fail "rm --trust of another user's arena"
    [ ! -e "/dev/shm/am.$name-trunc" ] || fail "rm --trust left it"
    echo "ok: another user's arena"
else
    echo "skipped: another user's arena (needs root for chown)"
fi
rm -f "/dev/shm/am.$name-trunc"

kill "$fpid"; wait "$fpid" 2>/dev/null || true; fpid=
set +e; "$amctl" rm "$name" --json > /dev/null; rc=$?; set -e
[ $rc -eq 0 ] && [ ! -e "/dev/shm/am.$name" ] || fail "rm"
! ls /dev/shm/amlock."$name".* > /dev/null 2>&1 || fail "rm left the lock file"
"$amctl" --help | grep -q "amctl ls" && "$amctl" map --help | grep -q -- "--svg" || fail "help"
set +e; "$amctl" stat no-such-arena > /dev/null 2>&1; rc=$?; set -e
[ $rc -eq 1 ] || fail "stat of a missing arena: exit $rc"
echo "amctl: all checks passed"
