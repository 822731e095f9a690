"""The wire commands of PROTOCOL.md that reply, as small helpers over a tsharness.Client
(raw stream, or framed with framed=True for a server started with --framing 1)."""

from __future__ import annotations

from typing import List

import tsharness


def ask(client: tsharness.Client, line: bytes, framed: bool = False) -> bytes:
    """Send a command line and return the reply line, '\\n' included."""
    return client.frame_command(line) if framed else client.command(line)


def link_id(client: tsharness.Client, framed: bool = False) -> int:
    reply = ask(client, b"ID\n", framed)
    words = reply.split()
    assert len(words) == 2 and words[0] == b"ID" and words[1].isdigit() and reply.endswith(b"\n"), \
        f"bad ID reply {reply!r}"
    assert int(words[1]) != 0, "link ids are never 0"
    return int(words[1])


def link_ids(client: tsharness.Client, framed: bool = False) -> List[int]:
    """LINKS: the ids of the open links of the client's server, as listed (duplicates kept)."""
    reply = ask(client, b"LINKS\n", framed)
    words = reply.split()
    assert words[:1] == [b"LINKS"] and reply.endswith(b"\n") and \
        all(w.isdigit() for w in words[1:]), f"bad LINKS reply {reply!r}"
    return [int(w) for w in words[1:]]


def queued(client: tsharness.Client, target: int) -> int:
    """QUEUED <id>: bytes queued on link `target` (-1 for an unknown or closed link)."""
    reply = client.command(b"QUEUED %d\n" % target)
    words = reply.split()
    assert len(words) == 2 and words[0] == b"QUEUED" and words[1].lstrip(b"-").isdigit(), \
        f"bad QUEUED reply {reply!r}"
    return int(words[1])


def pause(client: tsharness.Client, target: int) -> None:
    assert client.command(b"PAUSE %d\n" % target) == b"OK\n"


def resume(client: tsharness.Client, target: int) -> None:
    assert client.command(b"RESUME %d\n" % target) == b"OK\n"


def assert_pause_blocks_and_resume_delivers(control: tsharness.Client,
                                            paused: tsharness.Client) -> None:
    """PAUSE the link of `paused` from `control`: its echo stops and its writes back up;
    RESUME: everything written arrives, in order, and the link goes on as before."""
    paused.echo(b"before the pause")
    target = link_id(paused)
    pause(control, target)
    pause(control, target)  # pausing a paused link succeeds and changes nothing
    sent = paused.fill_until_blocked(max_bytes=256 << 20, stall_s=0.5, timeout_s=30)
    assert paused.available() == 0, "a paused link was still read (its bytes came back)"
    resume(control, target)
    resume(control, target)  # likewise
    paused.expect_pattern(sent, timeout_s=30)
    paused.echo(b"after the resume")
