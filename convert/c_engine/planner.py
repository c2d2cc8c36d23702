"""The static memory plan: where each activation tensor lives during one inference.

The graph's output is written where the caller asks; every other activation, the input
included, gets a place in one static arena, shared with tensors whose lifetimes do not
overlap (TFLite Micro's greedy planner does the same within its tensor arena, the input
tensor too: a caller fills it in place and its bytes serve later tensors). Ops that only
reshape share their input's bytes, and elementwise kernels that read each element before
writing it may overwrite an input that is not read again. Nothing is allocated at run time."""

from __future__ import annotations

from dataclasses import dataclass, field

ALIGNMENT = 4
"""Arena offsets are multiples of 4 bytes: enough for the int8 kernels, and word loads."""


@dataclass
class Buffer:
    """Tensors that share the same bytes (an alias chain or an in-place op), as one block."""

    tensors: list
    size: int
    first: int
    """Index of the step that writes it first (-1: before the first step)."""
    last: int
    """Index of the last step that reads it (len(steps): after the last step)."""
    storage: str = "arena"
    """arena, or output (the caller's output buffer)."""
    offset: int = 0


@dataclass
class Plan:
    buffers: list
    arena_bytes: int
    location: dict = field(default_factory=dict)
    """tensor index -> (storage, offset)."""
    copies: list = field(default_factory=list)
    """Alias steps that must copy (their input and output cannot share bytes)."""


def make_plan(graph, steps) -> Plan:
    """Groups tensors into buffers, gives each buffer a lifetime and places the arena's."""
    activations = set(graph.inputs) | {s.output for s in steps}
    for step in steps:
        activations |= {t for t in step.reads if not graph.tensors[t].constant}
    group = {t: frozenset([t]) for t in activations}

    def merge(a, b):
        members = group[a] | group[b]
        for t in members:
            group[t] = members

    def storage(members) -> str:
        return "output" if members & set(graph.outputs) else "arena"

    def joins_input_to_output(a, b) -> bool:
        """Would one buffer hold the graph's input and its output? The input must stay in
        the arena (NAME_input() points there)."""
        both = group[a] | group[b]
        return bool(both & set(graph.inputs)) and bool(both & set(graph.outputs))

    last_read = {}
    for i, step in enumerate(steps):
        for t in step.reads:
            last_read[t] = i
    for t in graph.outputs:
        last_read[t] = len(steps)
    copies = []
    for i, step in enumerate(steps):
        if step.alias:
            source, target = step.reads[0], step.output
            if joins_input_to_output(source, target):
                copies.append(i)  # the input stays in the arena: its reshaped copy is the output
            else:
                merge(source, target)
    for i, step in enumerate(steps):
        for position in step.in_place:
            source = step.reads[position]
            if (source not in group or joins_input_to_output(source, step.output) or step.reads.count(source) > 1
                    or graph.tensors[source].nbytes != graph.tensors[step.output].nbytes
                    or max(last_read.get(t, -1) for t in group[source]) != i):
                continue
            merge(source, step.output)
            break
    producer = {s.output: i for i, s in enumerate(steps)}
    buffers = []
    for members in set(group.values()):
        first = min(producer.get(t, -1) for t in members)
        last = max(last_read.get(t, first) for t in members)
        size = max(graph.tensors[t].nbytes for t in members)
        buffers.append(Buffer(sorted(members), size, first, last, storage(members)))
    buffers.sort(key=lambda b: b.tensors)
    arena = _place([b for b in buffers if b.storage == "arena"])
    location = {t: (b.storage, b.offset) for b in buffers for t in b.tensors}
    return Plan(buffers, arena, location, copies)


def _place(buffers: list) -> int:
    """Greedy by size, first fit: the largest buffer first, each at the lowest offset that
    overlaps no placed buffer alive at the same time. Returns the arena's size."""
    placed = []
    for b in sorted(buffers, key=lambda b: (-b.size, b.first)):
        live = sorted((p.offset, p.offset + p.size) for p in placed if not (p.last < b.first or b.last < p.first))
        offset = 0
        for start, end in live:
            if offset + b.size <= start:
                break
            offset = max(offset, _aligned(end))
        b.offset = offset
        placed.append(b)
    return max((_aligned(p.offset + p.size) for p in placed), default=0)


def _aligned(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
