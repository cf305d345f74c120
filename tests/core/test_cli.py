"""The CLI spine: one-line errors with exit code 2, usage errors, the progress hook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from realign_pipeline.cli import main
from realign_pipeline.cli.common import progress_hook


def test_missing_params_file_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    paths = ["--data-root", "d", "--out", "o", "--metrics", "m.json"]
    code = main(["ingest", *paths, "--params", str(tmp_path / "absent.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert (
        err.strip()
        == f"error: params file not found: {tmp_path / 'absent.yaml'} (pass --params PATH)"
    )


def test_bad_override_names_the_key(capsys) -> None:
    paths = ["--data-root", "d", "--out", "o", "--metrics", "m.json"]
    code = main(["ingest", *paths, "--set", "ingest.nope=1"])
    assert code == 2
    assert "ingest.nope: unknown key" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys) -> None:
    assert main(["no-such-stage"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_progress_hook_writes_json_only_when_asked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("REALIGN_PROGRESS_FILE", raising=False)
    assert progress_hook() is None
    target = tmp_path / "progress.json"
    monkeypatch.setenv("REALIGN_PROGRESS_FILE", str(target))
    hook = progress_hook(min_interval_s=3600)
    hook(1, 10)
    hook(2, 10)  # throttled
    assert json.loads(target.read_text()) == {"done": 1, "total": 10}
    hook(10, 10)  # completion is always written
    assert json.loads(target.read_text()) == {"done": 10, "total": 10}


_EXIT_SCRIPT = """
import atexit, sys, threading, time
from pathlib import Path
from realign_pipeline.cli.common import exit_process

out = Path(sys.argv[1])
def late_writer():
    time.sleep(0.3)
    (out / "thread.txt").write_text("thread")
threading.Thread(target=late_writer).start()  # non-daemon: exit must wait for it
atexit.register(lambda: (out / "atexit.txt").write_text("atexit"))
sys.stdout.write("x" * 200_000)  # more than a pipe buffer holds
sys.stdout.write("end")  # stays in the text buffer until flushed
exit_process(int(sys.argv[2]))
"""


def _run_exit_script(tmp_path: Path, code: int, fast: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["REALIGN_FAST_EXIT"] = fast
    return subprocess.run(
        [sys.executable, "-c", _EXIT_SCRIPT, str(tmp_path), str(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_exit_process_keeps_what_a_normal_exit_does(tmp_path: Path) -> None:
    for code, fast in ((0, "1"), (3, "1"), (3, "0")):
        for name in ("thread.txt", "atexit.txt"):
            (tmp_path / name).unlink(missing_ok=True)
        proc = _run_exit_script(tmp_path, code, fast)
        assert proc.returncode == code, proc.stderr
        assert len(proc.stdout) == 200_003 and proc.stdout.endswith("end")
        assert (tmp_path / "thread.txt").read_text() == "thread"
        assert (tmp_path / "atexit.txt").read_text() == "atexit"


def test_console_script_targets_the_fast_exit_entry() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["realign"] == "realign_pipeline.cli:run"


def test_an_unreachable_server_exits_75_for_a_retry(capsys) -> None:
    """The pipeline runner retries exit 75 (EX_TEMPFAIL) and nothing else from a stage."""
    import typer

    from realign_pipeline.cli.common import EXIT_TRANSIENT, main_wrapper

    app = typer.Typer()

    @app.command()
    def refused() -> None:
        raise ConnectionRefusedError("connection refused")

    @app.command()
    def other() -> None:
        pass

    assert main_wrapper(app, ["refused"]) == EXIT_TRANSIENT == 75
    assert "transient" in capsys.readouterr().err
