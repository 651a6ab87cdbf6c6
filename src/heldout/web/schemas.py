"""Shapes of what the worker pages receive and return (validated at the edge; the library checks
the answers against the task again)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from heldout.crowd.assignments import SubmitReceipt
from heldout.errors import InvalidAnswersError

__all__ = ["ANSWER_VALUES", "MTURK_SUBMIT_HOSTS", "Receipt", "SubmitBody", "position"]

ANSWER_VALUES = {"no": 0, "maybe": 1, "yes": 2}
"""Verify-form values → stored answer values."""
MTURK_SUBMIT_HOSTS = ("https://www.mturk.com", "https://workersandbox.mturk.com")
"""Where MTurk's ``turkSubmitTo`` may point (live and sandbox)."""
MAX_POSITIONS = 1000

Position = Annotated[StrictInt, Field(ge=0, lt=MAX_POSITIONS)]


def position(text: str) -> int:
    """A position from a form field: decimal digits only."""
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or len(text) > 3:
        raise InvalidAnswersError("the answers could not be read", fix="submit the form again")
    return int(text)


class SubmitBody(BaseModel):
    """Either the ticked positions of a grid, or an answer (0..2) per position."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    selected: list[Position] | None = Field(None, max_length=MAX_POSITIONS)
    answers: dict[str, StrictInt] | None = Field(None, max_length=MAX_POSITIONS)

    def positions(self) -> dict[int, int] | None:
        """``{position: value}`` of a verify-style body (None for a grid's ``selected``)."""
        if (self.selected is None) == (self.answers is None):
            raise InvalidAnswersError(
                "send either selected positions or answers", fix="submit the form again"
            )
        if self.answers is None:
            return None
        return {position(key): value for key, value in self.answers.items()}


class Receipt(BaseModel):
    """The acknowledgement of a submission: sent only after the answers are committed."""

    status: str = "submitted"
    answers: int
    submitted_at: datetime
    repeat: bool

    @classmethod
    def of(cls, receipt: SubmitReceipt) -> Receipt:
        return cls(answers=receipt.answers, submitted_at=receipt.submitted_at, repeat=receipt.is_repeat)
