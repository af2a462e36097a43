"""Log capture, masking, last-line and output rules: pure byte handling, no processes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tapri_daemon.executors import output
from tapri_daemon.executors.capture import MASK, LastLine, LogCapture, Masker


def masked_in_chunks(secrets: list[str], data: bytes, sizes: list[int]) -> bytes:
    masker = Masker(secrets)
    parts, pos = [], 0
    for size in sizes:
        parts.append(masker.feed(data[pos : pos + size]))
        pos += size
    parts.append(masker.feed(data[pos:]))
    return b"".join(parts) + masker.flush()


def test_a_secret_split_across_every_possible_boundary_is_masked() -> None:
    data = b"token=hunter2-very-secret; again hunter2-very-secret!"
    for cut in range(1, len(data)):
        got = masked_in_chunks(["hunter2-very-secret"], data, [cut])
        assert got == b"token=***; again ***!", cut


def test_masking_random_chunkings_matches_masking_the_whole() -> None:
    rng = random.Random(7)
    secrets = ["abcabc", "abc", "zz\x00top"]
    data = b"".join(
        rng.choice([b"abc", b"ab", b"c", b"zz\x00top", b"x", b"\n"]) for _ in range(400)
    )
    whole = masked_in_chunks(secrets, data, [])
    assert b"zz\x00top" not in whole
    for _ in range(50):
        sizes = [rng.randint(1, 9) for _ in range(60)]
        assert masked_in_chunks(secrets, data, sizes) == whole


def test_without_secrets_bytes_pass_through_unchanged() -> None:
    masker = Masker(["", ""])
    assert masker.feed(b"\x00\xff\x1b[31m") == b"\x00\xff\x1b[31m"
    assert masker.flush() == b""


def feed_lines(chunks: list[bytes], limit: int = 100) -> LastLine:
    last = LastLine(limit)
    for chunk in chunks:
        last.feed(chunk)
    last.finish()
    return last


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([b"one\ntwo\n"], b"two"),
        ([b"one\ntwo\n\n  \n\r\n"], b"two"),
        ([b"one\ntw", b"o\n"], b"two"),
        ([b"one\n", b"\n", b"\n"], b"one"),
        ([b"one\nlast-without-newline"], b"last-without-newline"),
        ([b"a\n", b"b", b"c", b"\n", b"\n"], b"bc"),
        ([b"x\r\n"], b"x"),
        ([b""], None),
        ([b"\n\n"], None),
    ],
)
def test_the_last_non_empty_line(chunks: list[bytes], expected: bytes | None) -> None:
    last = feed_lines(chunks)
    assert (last.line, last.over) == (expected, False)


def test_a_last_line_longer_than_the_limit_is_flagged_not_kept() -> None:
    last = feed_lines([b"ok\n", b"y" * 60, b"y" * 60, b"y" * 60])
    assert last.over and last.line is None
    shorter = feed_lines([b"y" * 500 + b"\n", b"fine\n"])
    assert not shorter.over and shorter.line == b"fine"


def test_log_under_the_limit_is_kept_whole(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "t.1.log"
    capture = LogCapture(str(path), 1000)
    for i in range(10):
        capture.write(b"line %d\n" % i)
    capture.close()
    assert path.read_bytes() == b"".join(b"line %d\n" % i for i in range(10))
    assert path.stat().st_mode & 0o777 == 0o640


def test_log_over_the_limit_keeps_head_and_tail_and_counts_the_drop(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    limit = 2000
    capture = LogCapture(str(path), limit)
    data = b"".join(b"%06d\n" % i for i in range(5000))
    for pos in range(0, len(data), 333):
        capture.write(data[pos : pos + 333])
    capture.close()
    text = path.read_bytes()
    head_size, tail_size = limit // 2, limit - limit // 2 - 128
    dropped = len(data) - head_size - tail_size
    marker = b"\n[tapri: %d bytes dropped]\n" % dropped
    assert text == data[:head_size] + marker + data[-tail_size:]
    assert len(text) <= limit


def test_one_huge_write_still_keeps_head_and_tail(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    capture = LogCapture(str(path), 1000)
    capture.write(b"H" * 500 + b"m" * 100_000 + b"T" * 372)
    capture.close()
    assert path.read_bytes() == b"H" * 500 + b"\n[tapri: 100000 bytes dropped]\n" + b"T" * 372


def test_notes_come_last_on_their_own_line(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    capture = LogCapture(str(path), 1000)
    capture.write(b"partial")
    capture.note("timed out after 1 s")
    capture.close()
    assert path.read_bytes() == b"partial\n[tapri] timed out after 1 s\n"


def test_an_unwritable_log_is_reported_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    capture = LogCapture(str(blocker / "t.log"), 1000)
    capture.write(b"data")
    capture.close()
    assert capture.error is not None and "cannot write the log" in capture.error


def test_output_rules_mask_clean_and_limit() -> None:
    checked = output.check({"key": "pw=s3cret", "s3cret": [1, "s3cret"]}, 1000, ["s3cret"])
    assert checked.value == {"key": "pw=***", "***": [1, "***"]}
    surrogate = output.check("bad \udcff text", 100)
    assert surrogate.value == "bad ? text"
    json.dumps(surrogate.value).encode()
    assert output.check("x" * 50, 10).error == (
        "the output is 52 bytes, over the output limit of 10 bytes"
    )
    assert "not JSON-serialisable" in (output.check({1, 2}, 100).error or "")
    assert "not JSON-serialisable" in (output.check(float("nan"), 100).error or "")


def test_json_documents_and_lines() -> None:
    assert output.from_json_bytes(b'{"n": 3}', 100, [], "$TAPRI_OUTPUT").value == {"n": 3}
    bad = output.from_json_bytes(b"rows=3", 100, [], "$TAPRI_OUTPUT")
    assert bad.error is not None and bad.error.startswith("$TAPRI_OUTPUT is not JSON")
    assert output.from_json_bytes(b"NaN", 100, [], "f").error is not None
    assert output.from_json_bytes(b"  ", 100, [], "f").error == (
        "f is empty; write one JSON value to it"
    )
    assert output.from_line(b"42", 100, []).value == 42
    assert output.from_line(b"[INFO] done", 100, []).value == "[INFO] done"
    assert output.from_line(b"NaN", 100, []).value == "NaN"
    assert output.from_line(b"\xff\x00\x1b[1m", 100, []).value == "\ufffd\x00\x1b[1m"


def test_error_texts_are_masked_cleaned_and_bounded() -> None:
    text = output.clean_error("failed: s3cret \udcff" + "x" * 10_000, ["s3cret"])
    assert text.startswith("failed: *** ?")
    assert len(text) == output.ERROR_LIMIT
    assert output.exit_error(3) == "exited with code 3"
    assert output.exit_error(-9) == "killed by signal SIGKILL"
    assert MASK == b"***"
