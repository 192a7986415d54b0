"""bench.probes' pure parsers: strace's summary table and py-spy's raw stacks."""

from __future__ import annotations

from bench.probes import stack_summary, syscall_counts, syscalls_per_request

STRACE_SUMMARY = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 52.10    0.004000           2      2000           write
 30.00    0.002300           2      1000       120 read
 17.90    0.001400           1       900           getpid
------ ----------- ----------- --------- --------- ----------------
100.00    0.007700           1      3900       120 total
"""


def test_syscall_counts_reads_calls_by_name_without_the_total() -> None:
    assert syscall_counts(STRACE_SUMMARY) == {"write": 2000, "read": 1000, "getpid": 900}


def test_syscalls_per_request_divides_by_the_answered_requests() -> None:
    fields = syscalls_per_request({"write": 2000, "read": 1000, "getpid": 900}, 1000)
    assert fields["syscalls_per_request"] == 3.9
    assert list(fields["syscalls"].items()) == [("write", 2.0), ("read", 1.0),
                                                ("getpid", 0.9)]


def test_no_answered_request_gives_no_figures() -> None:
    assert syscalls_per_request({"write": 5}, 0) == {}


def test_stack_summary_counts_self_on_top_and_inclusive_once_per_stack() -> None:
    raw = ["main (app.py:3);run (loop.py:1);loop (app.py:9);loop (app.py:12);write (io.py:5) 30",
           "main (app.py:3);run (loop.py:1);parse (http.py:40) 10",
           "main (app.py:3);run (loop.py:2) 5",
           "not a stack line"]
    summary = stack_summary(raw)
    assert summary["profile_samples"] == 45
    assert dict(summary["profile_self"]) == {"write (io.py)": 30, "parse (http.py)": 10,
                                             "run (loop.py)": 5}
    # main and run are the trunk every stack passes through: run counts only as a leaf.
    assert dict(summary["profile_inclusive"]) == {
        "loop (app.py)": 30, "write (io.py)": 30, "parse (http.py)": 10, "run (loop.py)": 5}


def test_each_thread_has_its_own_trunk() -> None:
    raw = ["main (app.py:1);serve (app.py:2) 8", "main (app.py:1);stop (app.py:3) 2",
           "bootstrap (threading.py:1);work (db.py:7) 4"]
    assert dict(stack_summary(raw)["profile_inclusive"]) == {
        "serve (app.py)": 8, "stop (app.py)": 2, "work (db.py)": 4}


def test_native_stacks_name_compiled_functions_and_drop_other_c() -> None:
    """`py-spy --native`: mypyc's C functions by their Python names (a coroutine's body, a
    private method, a private class, a function), the C wrapper that calls its body once;
    the interpreter's and the libraries' C frames leave their time to their caller."""
    raw = ["<module> (<frozen runpy>:198);main (app.py:1);run (loop.py:2);"
           "_PyEval_EvalFrameDefault (libpython3.11.so);__pyx_f_loop (uvloop/loop.pyx:88);"
           "CPyDef_protocol____serve_HttpConnection_gen_____mypyc_generator_helper__ "
           "(__native_ab12.c:48193);CPyPy_protocol___HttpConnection____write (__native_ab12.c:9);"
           "CPyDef_protocol___HttpConnection____write (__native_ab12.c:7);"
           "0x7f5f77a3c8ec (libc.so.6) 6",
           "<module> (<frozen runpy>:198);main (app.py:1);run (loop.py:2);"
           "CPyDef_delivery____Group___end (__native_ab12.c:1) 3",
           "<module> (<frozen runpy>:198);main (app.py:1);run (loop.py:2);"
           "CPyDef_http___messages___send_message_MessageRoutes_gen___close (__native_ab12.c:5);"
           "CPyDef_audit___write_line (__native_ab12.c:2) 2",
           "<module> (<frozen runpy>:198);main (app.py:1);run (loop.py:2);"
           "_find_and_load (<frozen importlib._bootstrap>:1007) 1"]
    summary = stack_summary(raw)
    assert dict(summary["profile_self"]) == {
        "HttpConnection._write (protocol, compiled)": 6, "_Group.end (delivery, compiled)": 3,
        "write_line (audit, compiled)": 2,
        "_find_and_load (<frozen importlib._bootstrap>)": 1}  # a frozen module's: Python
    assert dict(summary["profile_inclusive"])["HttpConnection._serve (protocol, compiled)"] == 6
    assert "MessageRoutes.send_message (http.messages, compiled)" in dict(
        summary["profile_inclusive"])
