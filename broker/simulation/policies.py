"""A policy of the simulator: how families move, how places are found, who may return.

Written as ``transfers/matching/reentry``, e.g. ``flexible/optimised/assessed``; a part left
out takes its default (``strict``, ``ranked``, ``excluded``), so ``flexible`` alone is
``flexible/ranked/excluded``. Each part is a setting of the broker's real rules:

    transfers  strict    the national protocol: a family moves only when its stay ends, to
                         a free place of the next tier, found like any new request
               flexible  every operator's flexible switch on: near the limit a family first
                         moves inside its own house to a kind on another stay clock
    matching   first_fit the phoning round: the first facility, in a fixed order, that takes
                         the family
               ranked    the broker's ranking during the call (solver.ranking)
               optimised families that can wait a few hours are placed together by the
                         planner (solver.plans) twice a day; urgent ones ranked at once
    reentry    excluded  a woman who went back to the perpetrator is not taken back
               assessed  a share of returning women pass an assessment and are looked for
                         like anyone else, at facilities that accept re-entry
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

from broker.errors import InvalidInput
from broker.i18n import gettext

TRANSFERS = ("strict", "flexible")
MATCHING = ("first_fit", "ranked", "optimised")
REENTRY = ("excluded", "assessed")
_PARTS = (TRANSFERS, MATCHING, REENTRY)


@dataclass(frozen=True, slots=True, order=True)
class Policy:
    transfers: str = "strict"
    matching: str = "ranked"
    reentry: str = "excluded"

    @property
    def name(self) -> str:
        return f"{self.transfers}/{self.matching}/{self.reentry}"

    @classmethod
    def parse(cls, text: str) -> Policy:
        """``flexible/optimised``, ``strict/first_fit/assessed``... in any order; a part
        left out keeps its default."""
        chosen: dict[int, str] = {}
        words = [word.strip() for word in text.strip().split("/") if word.strip()]
        if not words:
            raise InvalidInput(gettext("a policy names at least one of its parts"))
        for word in words:
            places = [index for index, values in enumerate(_PARTS) if word in values]
            if not places:
                raise InvalidInput(
                    gettext("unknown policy part '{word}'; use {known}").format(
                        word=word[:40],
                        known=", ".join(value for values in _PARTS for value in values),
                    )
                )
            if places[0] in chosen:
                raise InvalidInput(
                    gettext("the policy '{text}' sets one part twice").format(text=text[:80])
                )
            chosen[places[0]] = word
        default = cls()
        return cls(
            transfers=chosen.get(0, default.transfers),
            matching=chosen.get(1, default.matching),
            reentry=chosen.get(2, default.reentry),
        )


def parse_policies(text: str) -> list[Policy]:
    """A comma-separated list of policies; ``all`` is the six combinations of transfers and
    matching (re-entry excluded). The first is the one the others are compared with."""
    policies: list[Policy] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item == "all":
            found = [Policy(t, m) for t, m in product(TRANSFERS, MATCHING)]
        else:
            found = [Policy.parse(item)]
        policies += [policy for policy in found if policy not in policies]
    if not policies:
        raise InvalidInput(gettext("name at least one policy"))
    if len(policies) > 12:
        raise InvalidInput(gettext("at most 12 policies in one simulation"))
    return policies


SIX_COMBINATIONS = tuple(Policy(t, m) for t, m in product(TRANSFERS, MATCHING))
