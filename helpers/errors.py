"""One exception type for everything a learner can fix themselves.

A :class:`FlowersError` carries a short, readable message that says what went
wrong and what to do next. In Jupyter it is shown as that message alone, not
as a wall of traceback, because IPython calls ``_render_traceback_`` when an
exception defines it.
"""

from __future__ import annotations


class FlowersError(RuntimeError):
    """A problem the learner can fix: missing data, a bad archive, a lesson run too early."""

    def _render_traceback_(self) -> list[str]:
        """Tell IPython to show only the message (red title, plain text)."""
        return ["\x1b[1;31mFlowersError\x1b[0m: " + line if i == 0 else line
                for i, line in enumerate(str(self).splitlines())]
