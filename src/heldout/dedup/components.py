"""Resolution of near duplicates by connected components (ImageNetV2's rule, notes §2.d).

The graph joins every declared duplicate pair and every group of candidates that are the same
source photo (a star to the smallest id). A component that touches a reference image removes all
its candidates: they are copies of the original data. Any other component keeps exactly one
member, so a test set never holds two copies of one photo yet loses as little as possible:

1. a manual override in the component wins;
2. else the classes whose best selection frequency among the members is >= 0.7 (else >= 0.6, else
   the single best class, ties to the larger key) compete, and the one with the fewest good
   candidates in the whole project wins (ties to the smaller key): it needs the image most;
3. its member with the highest frequency is kept (blacklisted members count 0; ties to the larger id).

Everything runs on arrays: one sparse graph, one ``connected_components``, group-wise picks by
``lexsort``; nothing loops over components.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sqlalchemy import delete, select

from heldout.catalog import (
    Blacklist,
    Candidate,
    DuplicateOverride,
    DuplicatePair,
    DuplicateStatus,
    Image,
    Question,
    Score,
)
from heldout.catalog.bulk import bulk_insert
from heldout.project import Project

__all__ = [
    "GOOD_FREQUENCY",
    "Components",
    "DuplicateGraph",
    "build_components",
    "is_near_duplicate",
    "resolve",
    "resolve_components",
]

GOOD_FREQUENCY = 0.7
"""A candidate is *good* (and a class's best member decisive) from this selection frequency on."""
FALLBACK_FREQUENCY = 0.6


@dataclass(frozen=True, eq=False)
class DuplicateGraph:
    """The inputs of the resolution as aligned arrays over the graph's nodes (sorted ids)."""

    ids: np.ndarray
    """Node ids, sorted."""
    edges: np.ndarray
    """(n, 2) int64 node indices."""
    is_reference: np.ndarray
    class_keys: np.ndarray
    """Each node's class key ('' when it has none)."""
    frequency: np.ndarray
    """Selection frequency for its own class (0 when unlabelled or blacklisted)."""
    overridden: np.ndarray
    good_per_class: dict[str, int]
    """Good candidates per class in the whole project (non-blacklisted, labelled, frequency >= 0.7)."""


@dataclass(frozen=True, eq=False)
class Components:
    """Each node's component and verdict: ``kept``, ``duplicate``, ``reference``, or '' (a reference image)."""

    ids: np.ndarray
    component: np.ndarray
    status: np.ndarray

    def members(self, image_id: str) -> np.ndarray:
        """The ids in ``image_id``'s component."""
        index = np.flatnonzero(self.ids == image_id)
        return self.ids[self.component == self.component[index[0]]] if len(index) else np.asarray([], str)


def build_components(graph: DuplicateGraph) -> Components:
    """Label the graph's components and resolve each (pure function of the arrays)."""
    n = len(graph.ids)
    if n == 0:
        empty = np.asarray([], dtype=str)
        return Components(empty, np.zeros(0, dtype=np.int64), empty)
    adjacency = coo_matrix(
        (np.ones(len(graph.edges)), (graph.edges[:, 0], graph.edges[:, 1])), shape=(n, n)
    ).tocsr()
    _, component = connected_components(adjacency, directed=False)
    component = component.astype(np.int64)
    touches = np.bincount(component, weights=graph.is_reference).astype(bool)
    status = np.where(graph.is_reference, "", np.where(touches[component], "reference", "duplicate"))
    status = status.astype("<U9")
    free = ~touches[component]
    status[_kept(graph, component, free)] = "kept"
    return Components(graph.ids, component, status)


def _first_per_group(groups: np.ndarray) -> np.ndarray:
    """Positions of the first row of each run of equal values in an already sorted ``groups``."""
    return np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]]) if len(groups) else groups.astype(np.int64)


def _kept(graph: DuplicateGraph, component: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Indices of the kept node of every component that touches no reference image."""
    nodes = np.flatnonzero(free)
    overridden = nodes[graph.overridden[nodes]]
    overridden = overridden[np.argsort(component[overridden], kind="stable")]
    by_override = overridden[_first_per_group(component[overridden])] if len(overridden) else overridden
    rest = nodes[~np.isin(component[nodes], component[by_override])]
    return np.concatenate([by_override, _kept_by_rule(graph, component, rest)])


def _kept_by_rule(graph: DuplicateGraph, component: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    if not len(nodes):
        return nodes
    keys, key_code = np.unique(graph.class_keys[nodes], return_inverse=True)  # codes follow string order
    comp, freq = component[nodes], graph.frequency[nodes]
    # (component, class) pairs with the class's best frequency in the component
    pair_order = np.lexsort((-freq, key_code, comp))
    heads = pair_order[_first_per_group(comp[pair_order] * len(keys) + key_code[pair_order])]
    p_comp, p_key, p_best = comp[heads], key_code[heads], freq[heads]
    # each component's best class: the highest frequency, ties to the larger key
    argmax_order = np.lexsort((-p_key, -p_best, p_comp))
    argmax_heads = argmax_order[_first_per_group(p_comp[argmax_order])]
    top = np.full(component.max() + 1, -np.inf)
    top[p_comp[argmax_heads]] = p_best[argmax_heads]
    tier = np.where(
        top >= GOOD_FREQUENCY, GOOD_FREQUENCY, np.where(top >= FALLBACK_FREQUENCY, FALLBACK_FREQUENCY, np.inf)
    )
    eligible = p_best >= tier[p_comp]
    eligible[argmax_heads[np.isinf(tier[p_comp[argmax_heads]])]] = True  # below 0.6: only the best class
    good = np.asarray([graph.good_per_class.get(k, 0) for k in keys], dtype=np.int64)
    e_comp, e_key = p_comp[eligible], p_key[eligible]
    class_order = np.lexsort((e_key, good[e_key], e_comp))
    winner = np.full(component.max() + 1, -1)
    chosen = class_order[_first_per_group(e_comp[class_order])]
    winner[e_comp[chosen]] = e_key[chosen]
    in_winner = key_code == winner[comp]
    members = nodes[in_winner]  # node indices follow sorted ids, so a larger index is a larger id
    member_order = np.lexsort((-members, -graph.frequency[members], component[members]))
    return members[member_order[_first_per_group(component[members][member_order])]]


def load_graph(project: Project) -> DuplicateGraph:
    """Read duplicate pairs, same-photo groups, roles, frequencies and overrides from the catalog."""
    with project.transaction() as session:
        pairs = session.execute(select(DuplicatePair.image_id, DuplicatePair.other_id)).all()
        photos = session.execute(
            select(Candidate.id_search_engine, Candidate.image_id)
            .where(Candidate.id_search_engine.is_not(None))
            .order_by(Candidate.id_search_engine, Candidate.image_id)
        ).all()
        overrides = set(session.scalars(select(DuplicateOverride.image_id)))
        blacklisted = set(session.scalars(select(Blacklist.image_id)))
        frequencies = session.execute(
            select(Image.image_id, Image.class_key, Score.value)
            .join(Question, (Question.image_id == Image.image_id) & (Question.class_key == Image.class_key))
            .join(Score, Score.question_id == Question.question_id)
            .where(Score.method == "frequency", Image.role == "candidate")
        ).all()
    edges = [*pairs, *_photo_stars(photos)]
    ids = np.unique(np.asarray([i for edge in edges for i in edge], dtype=str))
    with project.transaction() as session:
        roles = _roles(session, ids.tolist())
    edge_index = (
        np.searchsorted(ids, np.asarray(edges, dtype=str).reshape(-1, 2)) if edges else np.zeros((0, 2), int)
    )
    freq_of = {i: (0.0 if i in blacklisted else float(v)) for i, _k, v in frequencies}
    good: dict[str, int] = {}
    for image_id, class_key, value in frequencies:
        if value >= GOOD_FREQUENCY and image_id not in blacklisted:
            good[class_key] = good.get(class_key, 0) + 1
    return DuplicateGraph(
        ids=ids,
        edges=edge_index.astype(np.int64),
        is_reference=np.asarray([roles[i][0] == "reference" for i in ids.tolist()], dtype=bool),
        class_keys=np.asarray([roles[i][1] or "" for i in ids.tolist()], dtype=str),
        frequency=np.asarray([freq_of.get(i, 0.0) for i in ids.tolist()], dtype=np.float64),
        overridden=np.isin(ids, list(overrides)),
        good_per_class=good,
    )


def _photo_stars(photos: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Edges from each same-photo group's first (smallest) id to the others."""
    edges, first = [], {}
    for photo, image_id in photos:
        head = first.setdefault(photo, image_id)
        if head != image_id:
            edges.append((head, image_id))
    return edges


def _roles(session, ids: list[str]) -> dict[str, tuple[str, str | None]]:
    out: dict[str, tuple[str, str | None]] = {}
    for start in range(0, len(ids), 5000):  # databases bound the parameters of one query
        part = ids[start : start + 5000]
        rows = session.execute(
            select(Image.image_id, Image.role, Image.class_key).where(Image.image_id.in_(part))
        )
        out.update((i, (role, key)) for i, role, key in rows)
    return out


def resolve_components(project: Project) -> Components:
    """The components and verdicts of the project's current duplicate graph, without writing them."""
    return build_components(load_graph(project))


def resolve(project: Project) -> Components:
    """Resolve the duplicate graph and rewrite ``DuplicateStatus`` (one row per candidate in a component)."""
    graph = load_graph(project)
    with project.run("dedup-resolve", {"pairs": int(len(graph.edges))}) as run:
        result = build_components(graph)
        rows = result.status != ""
        with project.transaction() as session:
            session.execute(delete(DuplicateStatus))
            bulk_insert(
                session,
                "duplicate_status",
                ("image_id", "component", "status", "run_id"),
                zip(
                    result.ids[rows].tolist(),
                    result.component[rows].tolist(),
                    result.status[rows].tolist(),
                    [run.run_id] * int(rows.sum()),
                    strict=True,
                ),
            )
        run.counts.update(
            {s: int((result.status == s).sum()) for s in ("kept", "duplicate", "reference")},
            components=int(len(np.unique(result.component))),
        )
    return result


def is_near_duplicate(project: Project, image_ids: list[str] | np.ndarray) -> np.ndarray:
    """Whether each image was removed by the last resolution (status ``duplicate`` or ``reference``)."""
    with project.transaction() as session:
        removed = session.scalars(
            select(DuplicateStatus.image_id).where(DuplicateStatus.status != "kept")
        ).all()
    return np.isin(np.asarray(list(image_ids), dtype=str), np.asarray(removed, dtype=str))
