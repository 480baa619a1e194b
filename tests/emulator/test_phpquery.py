"""PHP http_build_query / parse_str: the grammar of form bodies, query strings and batch commands."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from b24crm.runtime.phpquery import decode_query, encode_query, php_array


def test_encode_nested_maps_lists_and_scalars() -> None:
    text = encode_query({"fields": {"TITLE": "a b", "OK": True, "NO": False, "NONE": None}, "select": ["ID", "NAME"]})
    assert text == ("fields[TITLE]=a+b&fields[OK]=1&fields[NO]=0&fields[NONE]=&select[0]=ID&select[1]=NAME")


def test_encode_percent_encodes_key_segments_and_values() -> None:
    assert (
        encode_query({"filter": {">=PRICE": 15, "%NAME": "a&b=c"}})
        == "filter[%3E%3DPRICE]=15&filter[%25NAME]=a%26b%3Dc"
    )


def test_encode_empty_container_as_bracket_pair() -> None:
    assert encode_query({"select": [], "filter": {}}) == "select[]=&filter[]="


def test_decode_php_rules() -> None:
    assert decode_query("select[]=ID&select[]=NAME") == {"select": ["ID", "NAME"]}
    assert decode_query("filter[>ID]=5&filter[%3E%3DSORT]=10") == {"filter": {">ID": "5", ">=SORT": "10"}}
    assert decode_query("a[b][]=1&a[b][]=2&a[c]=x") == {"a": {"b": ["1", "2"], "c": "x"}}
    assert decode_query("a[5]=x&a[]=y") == {"a": {"5": "x", "6": "y"}}
    assert decode_query("a[0]=x&a[1]=y") == {"a": ["x", "y"]}
    assert decode_query("a[1]=x&a[0]=y") == {"a": {"1": "x", "0": "y"}}
    assert decode_query("flag&x=1+2&y=%2B") == {"flag": "", "x": "1 2", "y": "+"}
    assert decode_query("a.b=1&c d=2") == {"a_b": "1", "c_d": "2"}
    assert decode_query("a=1&a=2") == {"a": "2"}
    assert decode_query("a=1&a[x]=2") == {"a": {"x": "2"}}
    assert decode_query("") == {}
    assert decode_query("&&=x&[a]=1") == {}


def test_php_array_normalizes_json() -> None:
    assert php_array({"0": "a", "1": "b"}) == ["a", "b"]
    assert php_array({"1": "a"}) == {"1": "a"}
    assert php_array({"x": {}}) == {"x": []}
    assert php_array({}) == []


_key = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="[]\x00"), min_size=1, max_size=6).filter(
    lambda k: k.strip(" ") == k and "." not in k and " " not in k
)
_scalar = st.text(max_size=8)
_tree: Any = st.recursive(
    _scalar,
    lambda children: (
        st.lists(children, min_size=1, max_size=3) | st.dictionaries(_key, children, min_size=1, max_size=3)
    ),
    max_leaves=10,
)


@given(st.dictionaries(_key, _tree, max_size=4))
def test_round_trip(params: dict[str, Any]) -> None:
    """decode(encode(x)) is x as PHP sees it: lists stay lists, maps keyed 0..n-1 become lists."""
    expected = php_array(params)
    if isinstance(expected, list):  # the top level of a request is always a map of parameter names
        expected = {str(i): v for i, v in enumerate(expected)}
    assert decode_query(encode_query(params)) == expected
