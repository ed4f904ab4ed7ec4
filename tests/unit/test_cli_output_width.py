"""`filings` output to a pipe keeps full values: rich would cut a table to 80 columns."""

from __future__ import annotations

import pytest
from rich.table import Table

from cli.options import PIPED_WIDTH, Options
from engine.settings import Settings


def test_a_table_printed_to_a_pipe_is_not_cut(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    opts = Options(Settings())  # stdout is pytest's capture here: not a terminal
    assert opts.out.width == PIPED_WIDTH
    table = Table("主办单位名称", "服务备案号", "服务名称", "审核日期", "state")
    table.add_row("河北示例网络科技有限公司" * 2, "冀ICP备18021892号-12X", "示例小程序" * 3, "2026-12-09", "ACCESS_CANCELLED")
    opts.out.print(table)
    printed = capsys.readouterr().out
    assert "河北示例网络科技有限公司河北示例网络科技有限公司" in printed and "冀ICP备18021892号-12X" in printed
    assert "ACCESS_CANCELLED" in printed
