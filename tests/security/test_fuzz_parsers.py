"""Fuzzing the parsers that take outside input: configs, flows and job templates, from
random structures and random TOML text. Each input is either accepted or refused with an
InvalidInput that names the problem; nothing else may escape."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.fl_config import config_from_toml, parse_config
from app.errors import InvalidInput
from app.services.automation.flow_definitions import flow_from_toml, parse_flow
from app.services.automation.job_templates import parse_template
from tests.helpers import SAMPLE_CONFIG

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
keys = st.sampled_from(
    [
        "name",
        "model",
        "dataset",
        "partitioning",
        "algorithm",
        "training",
        "steps",
        "job",
        "kind",
        "rounds",
        "lr",
        "depends_on",
        "condition",
        "project",
        "config",
        "edges",
    ]
) | st.text(string.ascii_lowercase, min_size=1, max_size=6)
documents = st.dictionaries(keys, values, max_size=8)


def refused_cleanly(parse, data) -> None:
    try:
        parse(data)
    except InvalidInput as exc:
        assert str(exc)  # a reason, not an empty message


@settings(max_examples=300, deadline=None)
@given(documents)
def test_config_parser_accepts_or_names_the_problem(data):
    refused_cleanly(parse_config, data)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(list(SAMPLE_CONFIG)), values, max_size=6))
def test_config_parser_on_mutations_of_a_good_config(patch):
    refused_cleanly(parse_config, {**SAMPLE_CONFIG, **patch})


@settings(max_examples=300, deadline=None)
@given(documents)
def test_flow_and_template_parsers_accept_or_name_the_problem(data):
    refused_cleanly(parse_flow, data)
    refused_cleanly(parse_template, data)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_toml_text_is_parsed_or_refused(text):
    refused_cleanly(config_from_toml, text)
    refused_cleanly(flow_from_toml, text)
