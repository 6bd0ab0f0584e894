"""STOP/START keyword matrix: what opts out and what is only a conversation."""

import pytest

from gateway.optout.keywords import KeywordMatcher, fold, match_start, match_stop

STOPS = [
    "STOP", "stop", "Stop", " stop ", "stop.", "Stop!!!", "STOP !", "¡stop!", "stop?",
    "stop svp", "STOP SVP", "stop stp", "STOP merci", "stop merci beaucoup", "Stop, merci.",
    "stop s'il vous plaît", "stop s'il te plait", "svp stop", "merci stop", "bonjour stop",
    "STOP STOP", "stop stop stop", "ARRET", "arrêt", "ARRÊT", "Arrêt svp", "STOP SMS",
    "stop sms", "stop-sms", "STOPSMS", "StopSms", "DESABONNER", "désabonner", "Désabonner merci",
    "DESABONNEMENT", "désinscrire", "UNSUBSCRIBE", "unsubscribe please", "STOP 36184",
    "stop au 36184", "Stop à 36184", "STOP\n", "\tstop\t", "stop 🙏", "«stop»", "STOP…",
    "stop merci svp",
]
NOT_STOPS = [
    "", "   ", "!!!", "stopper", "STOPPEZ", "non stop", "stop ou encore ?", "arrêtez de m'écrire",
    "je veux pas stop", "stop les frais", "s t o p", "sto p", "stoop", "top", "STOP 12",
    "STOP 123456789", "stop au", "pas stop", "start", "bus stop", "stop demain", "stop!!! non",
    "stop " + "merci " * 4, "x" * 200 + " stop", "comment arrêter ?", "STOPS",
]


@pytest.mark.parametrize("text", STOPS)
def test_stop_positives(text):
    assert match_stop(text), text


@pytest.mark.parametrize("text", NOT_STOPS)
def test_stop_negatives(text):
    assert not match_stop(text), text


@pytest.mark.parametrize("text", ["START", "start", "Start svp", "start!", "START 36184"])
def test_start_positives(text):
    assert match_start(text)
    assert not match_stop(text)


@pytest.mark.parametrize("text", ["started", "restart", "abonner", "STOP", "start now please ok"])
def test_start_negatives(text):
    assert not match_start(text)


def test_extra_keywords_are_folded_like_the_text():
    assert not match_stop("halte")
    assert match_stop("HALTE !", extra=["halte"])
    assert match_stop("ne plus recevoir", extra=["Ne plus recevoir"])
    assert match_stop("PLUS DE SMS svp", extra=["plus de sms"])
    assert match_start("réabonner", extra=["REABONNER"])


def test_matcher_requires_a_keyword():
    with pytest.raises(ValueError):
        KeywordMatcher(["", "  !"])


def test_fold():
    assert fold("  Arrêt!!  SVP ") == "arret svp"
    assert fold("ＳＴＯＰ") == "stop"  # full-width letters (NFKD)
