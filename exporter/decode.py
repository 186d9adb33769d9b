"""List answers (``/nodes``, ``/services``, ``/tasks``, ``/networks``, ``/secrets``,
``/configs``) decoded with msgspec, typed.

Decoding a whole answer with ``json.loads`` built every object of it, the task
templates and container specs we never read included, and most of the
exporter's CPU went there and into walking the dicts (docs/benchmarks.md).
Here an answer is first split into its elements, undecoded (``split``); each is
then decoded into a ``*Doc`` of ``exporter.parse`` (only the fields we read,
typed), a slice at a time (``Reader.read``), and built by the same functions
as any other.

Where msgspec refuses an object (a field of an unexpected type, say), that
object alone is decoded with ``json.loads`` and read leniently, as every object
was before: it parses, or is skipped and counted, exactly as it was. Where
msgspec refuses the answer itself, or takes something ``json.loads`` would not
(``NotJSON``), the caller decodes the whole answer with ``json.loads`` as
before, so that its errors are today's too.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import msgspec

from exporter.parse import (
    meta_of,
    network_of,
    node_of,
    parse_meta,
    parse_network,
    parse_node,
    parse_service,
    parse_task,
    service_of,
    task_of,
)
from exporter.shapes import MetaDoc, NetworkDoc, NodeDoc, ParseError, ServiceDoc, TaskDoc
from exporter.types import Network, Node, ObjectMeta, Service, Task

T = TypeVar("T")
D = TypeVar("D")

_ELEMENTS = msgspec.json.Decoder(list[msgspec.Raw])

_REFUSED = (msgspec.DecodeError, RecursionError)
"""What msgspec raises on input it does not take (ValidationError is a DecodeError;
nesting too deep is a RecursionError, as with ``json``)."""


class NotJSON(Exception):
    """An element msgspec split off that ``json.loads`` does not take: the answer is
    to be decoded as a whole, with ``json.loads``, to fail as it always did."""


def split(body: bytes) -> list[msgspec.Raw] | None:
    """The elements of a JSON list answer, undecoded; None when the body is not a
    list, or not JSON msgspec reads the way ``json.loads`` does (NaN, a lone
    surrogate escape, a byte-order mark): the caller decodes it with ``json``."""
    if not _utf8(body):
        return None
    try:
        return _ELEMENTS.decode(body)
    except _REFUSED:
        return None


_CHUNK = 1 << 16


def _utf8(body: bytes) -> bool:
    """Whether ``json.loads`` takes ``body``'s bytes (UTF-8, encoded surrogates let
    through): msgspec does not check those it skips. Checked a piece at a time, not
    to hold the whole body as text."""
    if body.isascii():
        return True
    check = codecs.getincrementaldecoder("utf-8")("surrogatepass")
    view = memoryview(body)
    try:
        for start in range(0, len(view), _CHUNK):
            check.decode(view[start : start + _CHUNK])
        check.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Reader(Generic[D, T]):
    """How the elements of one kind of list answer become our objects."""

    kind: str
    """As in the parse-error counter and messages: node, service, task."""
    decoder: msgspec.json.Decoder[D]
    build: Callable[[D], T]
    """The rules (``exporter.parse``), from a typed ``*Doc``."""
    parse: Callable[[object], T]
    """The same rules, from decoded JSON (read leniently)."""

    def read(self, items: Sequence[msgspec.Raw]) -> tuple[list[T], list[str]]:
        """The good objects of ``items``, and one message per object skipped.

        Raises ``NotJSON`` where an object is not JSON to ``json.loads``."""
        good: list[T] = []
        problems: list[str] = []
        decode, build = self.decoder.decode, self.build
        for item in items:
            try:
                try:
                    doc = decode(item)
                except _REFUSED:
                    good.append(self.parse(_loads(item)))
                else:
                    good.append(build(doc))
            except ParseError as exc:
                problems.append(str(exc))
        return good, problems


def _loads(item: msgspec.Raw) -> object:
    try:
        return json.loads(bytes(item))
    except (ValueError, RecursionError) as exc:
        raise NotJSON(str(exc)) from exc


NODES: Reader[NodeDoc, Node] = Reader("node", msgspec.json.Decoder(NodeDoc), node_of, parse_node)
SERVICES: Reader[ServiceDoc, Service] = Reader(
    "service", msgspec.json.Decoder(ServiceDoc), service_of, parse_service
)
TASKS: Reader[TaskDoc, Task] = Reader("task", msgspec.json.Decoder(TaskDoc), task_of, parse_task)
NETWORKS: Reader[NetworkDoc, Network] = Reader(
    "network", msgspec.json.Decoder(NetworkDoc), network_of, parse_network
)
SECRETS: Reader[MetaDoc, ObjectMeta] = Reader(
    "secret", msgspec.json.Decoder(MetaDoc), meta_of("secret"), parse_meta("secret")
)
CONFIGS: Reader[MetaDoc, ObjectMeta] = Reader(
    "config", msgspec.json.Decoder(MetaDoc), meta_of("config"), parse_meta("config")
)
