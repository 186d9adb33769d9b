"""Prometheus rule files from Python: the types, the selector, the YAML text.

The shipped alerts are in ``grafana/alert_rules.py``, the recording rules the dashboards
read in ``grafana/recording_rules.py``; ``python -m grafana.build`` writes them with the
dashboards. The YAML is written here rather than by a YAML library so that it reads like
the hand-written files it replaced: block expressions, folded descriptions, each rule's
reason as a comment above it.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import yaml

from grafana.config import Config, seconds

# Every summary ends by naming the swarm, when Prometheus gives it a cluster label.
IN_CLUSTER = "{{ with $labels.cluster }} (cluster {{ . }}){{ end }}"
# About as wide as the hand-written files were.
WIDTH = 92


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    summary: str
    description: str
    why: str = ""


@dataclass(frozen=True)
class Record:
    name: str
    expr: str
    why: str = ""


@dataclass(frozen=True)
class Group:
    name: str
    rules: Sequence[Alert | Record]
    why: str = ""
    # Recording rules that add up per evaluation pin theirs (grafana/recording_rules.py).
    interval: str = ""


# ------------------------------------------------------------------------- selector

# A raw series of swarm-sentinel's or Prometheus' own that a rule or panel selects; a
# recorded series (level:metric:operation, colons) is ours whatever the selector.
_METRIC = re.compile(r"(?<![\w:])(dockerswarm_\w+|up|process_start_time_seconds)\b(?!\s*\()")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'")
_BACKQUOTED = re.compile(r"`[^`]*`")


def _matchers_end(text: str, start: int) -> int:
    """Index just past the ``}`` closing the matchers opened at `start`."""
    code = _QUOTED.sub(lambda m: "_" * len(m.group(0)), text)
    return code.index("}", start) + 1


def with_selector(expr: str, selector: str) -> str:
    """`expr` with `selector` (label matchers) added to every raw series it selects."""
    if not selector:
        return expr
    code = _QUOTED.sub(lambda m: "_" * len(m.group(0)), expr)
    out: list[str] = []
    last = 0
    for match in _METRIC.finditer(code):
        if match.start() < last:  # inside matchers already copied
            continue
        end = match.end()
        out.append(expr[last:end])
        rest = code[end:]
        gap = len(rest) - len(rest.lstrip(" "))
        if rest[gap : gap + 1] == "{":
            close = _matchers_end(expr, end + gap)
            inner = expr[end + gap + 1 : close - 1]
            out.append(f"{{{selector}, {inner}}}" if inner.strip() else f"{{{selector}}}")
            last = close
        else:
            out.append(f"{{{selector}}}")
            last = end
    out.append(expr[last:])
    return "".join(out)


def with_selector_in_queries(template: str, selector: str) -> str:
    """The Go template's backquoted PromQL queries (annotations) with `selector` added."""
    return _BACKQUOTED.sub(lambda m: with_selector(m.group(0), selector), template)


# The label `cluster` where PromQL names it (matchers, by, on, without): not inside a
# string, nor a part of a longer name (dockerswarm_cluster_..., cluster_service:...).
_CLUSTER_LABEL = re.compile(r"(?<![\w$.:])cluster\b(?![:(])")


def with_cluster_label(expr: str, label: str) -> str:
    """`expr` with the label `cluster` called `label` (the strings in it unchanged)."""
    if label == "cluster":
        return expr
    code = _QUOTED.sub(lambda m: "_" * len(m.group(0)), expr)
    out: list[str] = []
    last = 0
    for match in _CLUSTER_LABEL.finditer(code):
        out.extend((expr[last : match.start()], label))
        last = match.end()
    return "".join([*out, expr[last:]])


def with_cluster_label_in_template(template: str, label: str) -> str:
    """A Go template (an annotation) with its label `cluster` called `label`: in
    ``$labels.cluster`` and in its backquoted queries; its prose unchanged."""
    if label == "cluster":
        return template
    template = re.sub(r"\$labels\.cluster\b", f"$labels.{label}", template)
    return _BACKQUOTED.sub(lambda m: with_cluster_label(m.group(0), label), template)


def localized(expr: str, config: Config) -> str:
    """A rule's or a panel's PromQL for `config`: its selector, its cluster label."""
    return with_cluster_label(with_selector(expr, config.selector), config.cluster_label)


def localized_template(template: str, config: Config) -> str:
    """An annotation's Go template for `config` (its queries as ``localized``)."""
    template = with_selector_in_queries(template, config.selector)
    return with_cluster_label_in_template(template, config.cluster_label)


# ---------------------------------------------------------------- counted increments


def born(selector: str, window: str, indent: str = "") -> str:
    """The series of `selector` born within `window`, with their whole value: where their
    exporter was scraped `window` ago or started within it (the header of the rule file
    says why)."""
    return (
        f"(\n{indent}  {selector}\n{indent}  unless {selector} offset {window}\n{indent})\n"
        f"{indent}and on (cluster, instance, job) (\n"
        f"{indent}  up offset {window} == 1\n"
        f"{indent}  or process_start_time_seconds > time() - {seconds(window)}\n"
        f"{indent})"
    )


def counted(aggregation: str, selector: str, window: str) -> str:
    """What a counter counted within `window` per series, its series born within the
    window included, aggregated (``sum by (...)`` for per-node series, ``max by (...)``
    for cluster series)."""
    return (
        f"{aggregation} (\n"
        f"  (\n"
        f"    increase({selector}[{window}])\n"
        f"    unless (\n"
        f"      {born(selector, window, '      ')}\n"
        f"    )\n"
        f"  )\n"
        f"  or\n"
        f"  (\n"
        f"    {born(selector, window, '    ')}\n"
        f"  )\n"
        f")"
    )


# --------------------------------------------------------------------------- YAML


def _comment(text: str, indent: str) -> list[str]:
    return [
        f"{indent}# {line}" if line else f"{indent}#"
        for paragraph in text.split("\n")
        for line in (textwrap.wrap(paragraph, WIDTH - len(indent) - 2) or [""])
    ]


def _scalar(value: str) -> str:
    """A one-line value as YAML reads it back unchanged: plain when it can be."""
    try:
        plain = yaml.safe_load(f"k: {value}") == {"k": value}
    except yaml.YAMLError:
        plain = False
    return (
        value if plain and value == value.strip() else yaml.safe_dump(value, width=1 << 20).strip()
    )


def _expr(expr: str, indent: str) -> list[str]:
    if "\n" not in expr.strip():
        return [f"{indent}expr: {_scalar(expr.strip())}"]
    body = textwrap.dedent(expr).strip("\n")
    return [f"{indent}expr: |"] + [f"{indent}  {line}" if line else "" for line in body.split("\n")]


def _folded(key: str, text: str, indent: str) -> list[str]:
    lines = textwrap.wrap(
        text,
        WIDTH - len(indent) - 2,
        break_long_words=False,
        break_on_hyphens=False,
    )
    if " ".join(lines) != text or any(line != line.strip() for line in lines):
        # A folded block would not read back as `text` (double spaces, line breaks).
        return [f"{indent}{key}: {_scalar(text)}"]
    return [f"{indent}{key}: >-"] + [f"{indent}  {line}" for line in lines]


def _rule(rule: Alert | Record, config: Config) -> list[str]:
    lines = [*_comment(rule.why, "        ")] if rule.why else []
    expr = localized(rule.expr, config)
    if isinstance(rule, Record):
        return [f"      - record: {rule.name}", *lines, *_expr(expr, "        ")]
    settings = config.alert(rule.name)
    lines = [f"      - alert: {rule.name}", *lines, *_expr(expr, "        ")]
    if seconds(settings.for_):
        lines.append(f"        for: {settings.for_}")
    description = localized_template(rule.description, config)
    summary = localized_template(rule.summary + IN_CLUSTER, config)
    return [
        *lines,
        "        labels:",
        f"          severity: {settings.severity}",
        "        annotations:",
        f"          summary: {_scalar(summary)}",
        *_folded("description", description, "          "),
        f"          runbook_url: {config.runbook_url}#{rule.name.lower()}",
    ]


def render_rules(header: str, groups: Sequence[Group], config: Config) -> str:
    """The rule file: `header` as its opening comment, then the groups."""
    # The header is laid out by hand (lists, paragraphs): kept line for line.
    lines = [f"# {line}".rstrip() for line in header.strip("\n").split("\n")]
    lines.append("groups:")
    for i, group in enumerate(groups):
        if i:
            lines.append("")
        lines.append(f"  - name: {group.name}")
        if group.interval:
            lines.append(f"    interval: {group.interval}")
        if group.why:
            lines.extend(_comment(group.why, "    "))
        lines.append("    rules:")
        for j, rule in enumerate(group.rules):
            if j:
                lines.append("")
            lines.extend(_rule(rule, config))
    return "\n".join(lines) + "\n"


RuleFile = Callable[[Config], str]
