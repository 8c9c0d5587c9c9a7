"""The interactive labeller: driven through its input abstraction, and through a pseudo-terminal."""
import io
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest
from rich.console import Console

from enginebugs.taxonomy.labelling.coders import coder_answers, is_complete
from enginebugs.taxonomy.labelling.session import LabelSession, build_queue
from enginebugs.taxonomy.labelling.terminal import ScriptedInput
from enginebugs.taxonomy.store import Store
from tests.label_support import label_as, make_store, record_id

#: Answers for one record: Crash, Misused API, Operators, Inference/Serving (numbers of the lists).
ONE_RECORD = ["1", "2", "2", "3"]


def run(store, coder, lines, **kwargs):
    out = io.StringIO()
    reader = ScriptedInput(lines)
    session = LabelSession(store, coder, build_queue(store, coder), reader=reader,
                           console=Console(file=out, width=100), **kwargs)
    return session.run(), reader, out.getvalue()


def complete_records(store, coder):
    return sorted(rid for rid, ans in coder_answers(store, coder).items() if is_complete(ans))


def test_answers_are_saved_at_once_and_a_new_session_resumes(tmp_path):
    with Store.open(make_store(tmp_path / "s.db")) as store:
        result, _, _ = run(store, "alice", ONE_RECORD * 2 + ["1"])  # input ends inside record 3
        assert result.answers_saved == 9 and result.quit
        assert complete_records(store, "alice") == [record_id(store, 1), record_id(store, 2)]
        assert coder_answers(store, "alice")[record_id(store, 3)] == {"symptom": ["crash"]}
        # The next session starts at record 3, on its first unanswered dimension.
        _, reader, output = run(store, "alice", ONE_RECORD[1:] + ["q"])
        assert re.search(r"Issue number (\d+)", output).group(1) == "3"
        assert reader.prompts[0].startswith("root cause")
        assert complete_records(store, "alice") == [record_id(store, k) for k in (1, 2, 3)]
        assert build_queue(store, "alice")[0]["title"] == "Issue number 4"


def test_unexpected_output_asks_for_the_subtype_and_names_are_accepted(tmp_path):
    with Store.open(make_store(tmp_path / "s.db", n=1)) as store:
        _, reader, _ = run(store, "bob", ["Unexpected Output, crash", "incorrect-tokenization", "9", "3", "1"])
        assert [p.split(">")[0] for p in reader.prompts] == ["symptom", "root cause", "component", "phase",
                                                             "output subtype"]
        assert coder_answers(store, "bob")[record_id(store, 1)] == {
            "symptom": ["unexpected-output", "crash"], "root_cause": ["incorrect-tokenization"],
            "component": ["input-processor"], "phase": ["inference-serving"], "output_subtype": ["character"]}


def test_bad_input_is_refused_without_saving(tmp_path):
    with Store.open(make_store(tmp_path / "s.db", n=1)) as store:
        result, reader, output = run(store, "c", ["99", "Explodes", "1", "1", "1", "1,2", "q"])
        assert "no symptom number 99" in output and "unknown symptom 'Explodes'" in output
        assert "phase takes one value" in output
        assert result.answers_saved == 3
        assert coder_answers(store, "c")[record_id(store, 1)] == {
            "symptom": ["crash"], "root_cause": ["incorrect-algorithm-implementation"],
            "component": ["model-conversion-tools"]}


def test_undo_goes_back_across_records_and_restores(tmp_path):
    with Store.open(make_store(tmp_path / "s.db", n=3)) as store:
        # Record 1 complete, record 2 symptom; undo twice: record 2's symptom and record 1's phase.
        result, reader, _ = run(store, "d", ONE_RECORD + ["4", "u", "u", "1", "q"])
        assert reader.prompts[-2].startswith("phase")  # back on record 1's phase
        assert coder_answers(store, "d") == {record_id(store, 1): {
            "symptom": ["crash"], "root_cause": ["misused-api"], "component": ["operators"],
            "phase": ["engine-setup"]}}
        assert result.answers_saved == 4


def test_skip_moves_on_and_skipped_records_come_back_later(tmp_path):
    with Store.open(make_store(tmp_path / "s.db", n=3)) as store:
        run(store, "e", ["s"] + ONE_RECORD + ["q"])
        assert complete_records(store, "e") == [record_id(store, 2)]
        assert [r["title"] for r in build_queue(store, "e")] == ["Issue number 3", "Issue number 1"]


def test_review_mode_shows_done_records_and_enter_keeps_values(tmp_path):
    with Store.open(make_store(tmp_path / "s.db", n=1)) as store:
        label_as(store, "f", 1, symptom=["crash"], root_cause=["misused-api"], component=["operators"],
                 phase=["engine-setup"])
        assert build_queue(store, "f") == []
        queue = build_queue(store, "f", include_done=True)
        reader = ScriptedInput(["", "", "", "3"])
        LabelSession(store, "f", queue, reader=reader, console=Console(file=io.StringIO()), review=True).run()
        assert "Enter keeps Crash" in reader.prompts[0]
        assert coder_answers(store, "f")[record_id(store, 1)]["phase"] == ["inference-serving"]
        assert coder_answers(store, "f")[record_id(store, 1)]["symptom"] == ["crash"]


def test_record_display_and_suggestions(tmp_path):
    with Store.open(make_store(tmp_path / "s.db", n=1)) as store:
        def suggest(rec):
            return {"symptom": [("system-hang", 0.61), ("crash", 0.3), ("silent-error", 0.09)]}
        _, _, output = run(store, "g", ["q"], suggest=suggest, page_lines=3)
    assert "Issue number 1" in output and "fix: https://github.com/vllm-project/vllm/pull/101" in output
    assert "GitHub labels: bug" in output and "2 file(s), +10/-3" in output
    assert "classifier suggests: [5] System Hang 61%, [1] Crash 30%, [6] Silent Error 9%" in output
    assert re.search(r"body page 1/\d", output)


def test_body_pages_scroll_and_keep_code_blocks(tmp_path):
    with Store.open(make_store(tmp_path / "s.db", n=1)) as store:
        _, _, output = run(store, "h", ["n", "n", "n", "q"], page_lines=4)
    assert "Traceback (most recent call last):" in output
    assert "comment by maintainer" in output and "fixed in #101" in output


# -- through a pseudo-terminal ---------------------------------------------------------------
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """``enginebugs label`` in a pseudo-terminal: send lines, wait for text."""

    def __init__(self, db, coder):
        import pty

        self.master, slave = pty.openpty()
        env = {**os.environ, "TERM": "dumb", "COLUMNS": "100", "NO_COLOR": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "enginebugs.cli", "label", "--db", str(db), "--coder", coder, "--no-suggestions"],
            stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
        os.close(slave)
        self.seen = ""

    def expect(self, pattern, timeout=60.0):
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.seen):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {pattern!r}; output:\n{self.seen[-2000:]}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 65536).decode("utf-8", "replace")
                except OSError:
                    chunk = ""
                if not chunk and self.proc.poll() is not None:
                    raise AssertionError(f"labeller exited waiting for {pattern!r}:\n{self.seen[-2000:]}")
                self.seen += ANSI.sub("", chunk).replace("\r", "")
        found = re.search(pattern, self.seen)
        self.seen = self.seen[found.end():]
        return found

    def answer(self, prompt, line):
        self.expect(prompt)
        os.write(self.master, (line + "\n").encode())

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        os.close(self.master)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_killed_session_resumes_at_the_fourth_record(tmp_path):
    db = make_store(tmp_path / "s.db", n=6)
    term = Terminal(db, "alice")
    try:
        for n in (1, 2, 3):
            term.expect(f"Issue number {n}")
            for prompt, line in zip(("symptom>", "root cause>", "component>", "phase>"), ONE_RECORD):
                term.answer(prompt, line)
        term.expect("Issue number 4")
        term.expect("symptom>")
    finally:
        term.kill()
    assert term.proc.returncode == -signal.SIGKILL
    with Store.open(db) as store:
        assert complete_records(store, "alice") == [record_id(store, k) for k in (1, 2, 3)]
        assert store.count("labels") == 12
    again = Terminal(db, "alice")
    try:
        header = again.expect(r"record (\d+) of (\d+)[^\n]*\n[^\n]*Issue number (\d+)")
        assert header.groups() == ("1", "3", "4")
        again.answer("symptom>", "q")
        assert again.proc.wait(timeout=30) == 0
    finally:
        if again.proc.poll() is None:
            again.proc.kill()
        os.close(again.master)
    with Store.open(db) as store:
        assert complete_records(store, "alice") == [record_id(store, k) for k in (1, 2, 3)]
        assert store.count("labels") == 12
