"""Every state and event a page shows has its text, looked up by enumeration member: a new
member without a text fails here rather than showing its raw value to a counsellor."""

from __future__ import annotations

from enum import StrEnum

import pytest

from api.pages.common import HOLD_STATES
from api.pages.shared import DELIVERY_TEXTS, EVENT_TEXTS
from broker.domain.states import DeliveryState, Event, HoldState


@pytest.mark.parametrize(
    ("members", "texts"),
    [(HoldState, HOLD_STATES), (Event, EVENT_TEXTS), (DeliveryState, DELIVERY_TEXTS)],
    ids=["hold", "event", "delivery"],
)
def test_every_member_has_a_page_text(members: type[StrEnum], texts: dict[StrEnum, str]) -> None:
    assert set(texts) == set(members)
    assert all(isinstance(key, members) for key in texts)
    assert all(text.strip() for text in texts.values())
