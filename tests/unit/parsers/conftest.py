"""Print the parser's corpus accuracy at the end of any run that scored the corpus."""

from __future__ import annotations

import pytest

from tests.support.corpus_score import score_corpus, table


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if score_corpus.cache_info().currsize:  # only when a test asked for the score
        terminalreporter.write_sep(
            "-", "parser accuracy on the corpus (tests/support/corpus_score.py)"
        )
        terminalreporter.write_line(table(score_corpus()))
