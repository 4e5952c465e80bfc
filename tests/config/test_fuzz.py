"""Hypothesis: whatever the YAML says, validation either accepts it (and apply/export round-trips) or
refuses it with problems that name a field; it never crashes with anything else."""

from __future__ import annotations

import copy

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from include.config import ConfigError, apply_config, dump_yaml, export_config, parse_document, parse_yaml
from include.store.db import make_engine
from include.store.models import Base
from tests.config.builders import demo_doc

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


DEMO = demo_doc()
PATHS = [p for p in _paths(DEMO) if p]


@st.composite
def mutated_docs(draw):
    doc = copy.deepcopy(DEMO)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(PATHS))
        parent = doc
        try:
            for part in path[:-1]:
                parent = parent[part]
            action = draw(st.sampled_from(["set", "delete", "add_key"]))
            if action == "set":
                parent[path[-1]] = draw(scalars)
            elif action == "delete" and isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=8))] = draw(scalars)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    return doc


@pytest.mark.properties
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_docs())
def test_mutated_documents_are_accepted_or_refused_with_named_fields(doc):
    text = yaml.safe_dump(doc)
    try:
        cfg = parse_yaml(text)
    except ConfigError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.field and problem.message
        return
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        try:
            apply_config(session, cfg, actor="fuzz")
        except ConfigError as exc:  # e.g. a duplicate key the database refuses is still a named problem
            assert exc.problems
            return
        session.commit()
        exported = dump_yaml(export_config(session))
        assert apply_config(session, parse_yaml(exported), actor="fuzz") == []
    engine.dispose()


@pytest.mark.properties
@settings(deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes_the_parser(text):
    try:
        parse_yaml(text)
    except ConfigError as exc:
        assert exc.problems


def test_valid_demo_round_trips_through_yaml_text():
    cfg = parse_document(DEMO)
    assert parse_yaml(dump_yaml(cfg)) == cfg
