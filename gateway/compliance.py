"""The rules a commercial SMS must pass at intake, as one pure decision per message.

French marketing rules, from the configuration: a marketing text carries the account's STOP
mention (appended, or the message refused); marketing goes out only inside the allowed window
(no Sundays, no public holidays, 08:00-20:30 local time by default), so a message submitted
outside it is scheduled for the next opening (or refused, per account), and one whose validity
would end before that opening is refused; an account may be limited to its own senders.
Notifications (class "transactional") pass untouched: they are not marketing.

The opt-out list and the frequency cap need the store; the service checks those for a whole
batch in one read transaction, after this.

Pure: no clock (``now`` is a parameter), no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gateway.schedule import QuietHours
from gateway.senders import InvalidSender, append_stop_mention, classify_sender, has_stop_mention

#: Error codes (the socket API's, docs/protocol.md section 6).
MISSING_STOP_MENTION = "missing_stop_mention"
QUIET_HOURS = "quiet_hours"
INVALID_SENDER = "invalid_sender"


class PolicyError(Exception):
    """A message the rules refuse; ``code`` is the API error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Decision:
    """What intake sends: the text (with the mention when appended) and, when the window is
    closed, the instant it opens."""

    text: str
    send_after: float | None
    mention_appended: bool = False


@dataclass(frozen=True, slots=True)
class _AccountRules:
    mention: str
    mention_mode: str
    reject_quiet_hours: bool
    senders: frozenset[str]


class Policy:
    """The rules of one configuration, per account."""

    def __init__(self, config: Any) -> None:
        c = config.compliance
        self.window = QuietHours(
            tz=c.timezone,
            country=c.country,
            start=c.window_start,
            end=c.window_end,
            no_sundays=c.no_sundays,
            holidays=c.no_holidays,
            subdiv=c.subdivision or None,
        )
        self.window_text = (
            f"{c.window_start}-{c.window_end} {c.timezone}"
            + (", not on Sundays" if c.no_sundays else "")
            + (f", not on {c.country} public holidays" if c.no_holidays else "")
        )
        self._accounts: dict[str, _AccountRules] = {}
        for account in config.accounts:
            senders = set()
            for sender in account.senders:
                try:
                    senders.add(classify_sender(sender).address)
                except InvalidSender:  # the configuration already refused these
                    continue
            self._accounts[account.name] = _AccountRules(
                mention=account.stop_mention,
                mention_mode=account.mention_mode,
                reject_quiet_hours=account.quiet_hours == "reject",
                senders=frozenset(senders),
            )

    def check_sender(self, account: str, address: str) -> None:
        """``address`` is the classified sender (``Sender.address``)."""
        allowed = self._accounts[account].senders
        if allowed and address not in allowed:
            raise PolicyError(
                INVALID_SENDER,
                f"{address!r} is not one of the senders of account {account!r} "
                f"({', '.join(sorted(allowed))})",
            )

    def decide(
        self,
        *,
        account: str,
        marketing: bool,
        text: str,
        start: float,
        validity: float,
    ) -> Decision:
        """``start``: when the client wants it sent (its ``send_at``, or now); ``validity``
        counts from there."""
        if not marketing:
            return Decision(text, None)
        rules = self._accounts[account]
        appended = False
        if rules.mention_mode != "off" and not has_stop_mention(text, rules.mention):
            if rules.mention_mode == "reject":
                raise PolicyError(
                    MISSING_STOP_MENTION,
                    f"a marketing text of account {account!r} must carry {rules.mention!r}",
                )
            text = append_stop_mention(text, rules.mention)
            appended = True
        if self.window.is_allowed(start):
            return Decision(text, None, appended)
        opens = self.window.next_allowed(start).timestamp()
        when = dt.datetime.fromtimestamp(opens, dt.UTC).isoformat()
        if rules.reject_quiet_hours:
            raise PolicyError(
                QUIET_HOURS,
                f"marketing is sent only {self.window_text}; the next window opens at {when}",
            )
        if opens >= start + validity:
            raise PolicyError(
                QUIET_HOURS,
                f"marketing is sent only {self.window_text}; the next window opens at {when}, "
                f"after the message's validity ends",
            )
        return Decision(text, opens, appended)


__all__ = ["Decision", "Policy", "PolicyError"]
