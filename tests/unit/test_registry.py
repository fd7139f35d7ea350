"""The registry is refused, in one line naming the entry and the field, when it is wrong."""

from __future__ import annotations

import pytest
import yaml

from ingestion.registry import load_registry
from numlake.errors import UsageError

GOOD = {
    "id": "CM-GD",
    "name": "中国移动广东公司",
    "kind": "carrier",
    "carrier": "CM",
    "province": "GD",
    "format": "csv",
    "encoding": "utf-8",
    "delimiter": ",",
    "header": "en",
    "codes": "en",
    "time_format": "iso",
    "compression": "none",
}


def write(tmp_path, entries, raw: str | None = None):
    p = tmp_path / "registry.yaml"
    p.write_text(raw if raw is not None else yaml.safe_dump({"sources": entries}, allow_unicode=True), encoding="utf-8")
    return p


def refused(tmp_path, entries=None, raw=None) -> str:
    with pytest.raises(UsageError) as e:
        load_registry(write(tmp_path, entries, raw))
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_a_valid_registry_loads_every_source_in_order(tmp_path):
    second = dict(GOOD, id="MV-017", kind="mvno", carrier="CU", province="NAT", format="jsonl", header="zh")
    srcs = load_registry(write(tmp_path, [GOOD, second]))
    assert list(srcs) == ["CM-GD", "MV-017"]
    assert srcs["MV-017"].format == "jsonl" and srcs["CM-GD"].feeds == ("lifecycle", "complaints", "segments")


def test_the_spec_sample_registry_loads(tmp_path):
    srcs = load_registry("tests/fixtures/samples_registry.yaml")
    assert srcs["MV-017"].delimiter == "\t" and srcs["PORTAL"].feeds == ("orgs", "adoption")


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(UsageError, match="file not found"):
        load_registry(tmp_path / "nope.yaml")


def test_invalid_yaml_is_refused_with_its_line(tmp_path):
    assert "invalid YAML at line" in refused(tmp_path, raw="sources:\n  - id: [unclosed\n")


def test_a_document_without_a_sources_list_is_refused(tmp_path):
    assert "'sources'" in refused(tmp_path, raw="hello: 1\n")


@pytest.mark.parametrize("raw", ["sources: []\n", "sources:\n", "sources:\n# every entry cut off\n"])
def test_a_registry_without_a_source_is_refused(tmp_path, raw):
    # a truncated file would otherwise refuse every delivery as unknown_source, and say "succeeded"
    assert "no source" in refused(tmp_path, raw=raw)


def test_a_field_given_twice_in_an_entry_is_refused_naming_entry_and_field(tmp_path):
    text = yaml.safe_dump({"sources": [GOOD]}, allow_unicode=True) + "  format: jsonl\n"
    msg = refused(tmp_path, raw=text)
    assert "sources[0] (id CM-GD)" in msg and "'format'" in msg and "twice" in msg


def test_a_key_given_twice_at_the_top_is_refused(tmp_path):
    text = yaml.safe_dump({"sources": [GOOD]}, allow_unicode=True)
    assert "'sources'" in refused(tmp_path, raw=text + text)


def test_a_dangling_link_is_named_as_the_path_given(tmp_path):
    link = tmp_path / "registry.yaml"
    link.symlink_to(tmp_path / "gone" / "r.yaml")
    from orchestration.settings import Settings

    settings = Settings.resolve(home=tmp_path / "home", landing=tmp_path, registry=link)
    with pytest.raises(UsageError) as e:
        settings.validate()
    assert str(link) in str(e.value) and "gone" in str(e.value)


@pytest.mark.parametrize("field", list(GOOD))
def test_every_missing_field_is_named_with_its_entry(tmp_path, field):
    entry = {k: v for k, v in GOOD.items() if k != field}
    msg = refused(tmp_path, [GOOD | {"id": "CT-SC", "carrier": "CT", "province": "SC"}, entry])
    assert f"missing field '{field}'" in msg and "sources[1]" in msg


@pytest.mark.parametrize(
    "field,value",
    [
        ("kind", "bank"),
        ("carrier", "XX"),
        ("province", "ZZ"),
        ("format", "xml"),
        ("encoding", "gbk"),
        ("delimiter", ";"),
        ("header", "fr"),
        ("codes", "de"),
        ("time_format", "epoch"),
        ("compression", "zip"),
    ],
)
def test_an_unknown_value_is_refused_naming_entry_and_field(tmp_path, field, value):
    msg = refused(tmp_path, [GOOD | {field: value}])
    assert f"field '{field}'" in msg and "unknown value" in msg and "id CM-GD" in msg


@pytest.mark.parametrize("bad_id", ["cm-gd", "CM_GD", "CM--GD", "-CM", ""])
def test_an_id_outside_the_pattern_is_refused(tmp_path, bad_id):
    assert "field 'id'" in refused(tmp_path, [GOOD | {"id": bad_id}])


def test_a_duplicate_id_is_refused_naming_the_second_entry(tmp_path):
    msg = refused(tmp_path, [GOOD, GOOD])
    assert "sources[1] (id CM-GD)" in msg and "duplicates" in msg


def test_header_none_is_refused_for_jsonl(tmp_path):
    msg = refused(tmp_path, [GOOD | {"format": "jsonl", "header": "none"}])
    assert "field 'header'" in msg


def test_a_portal_must_have_no_carrier_and_a_carrier_must_have_one(tmp_path):
    assert "field 'carrier'" in refused(tmp_path, [GOOD | {"kind": "portal"}])
    assert "field 'carrier'" in refused(tmp_path, [GOOD | {"carrier": "none"}])


def test_a_non_text_value_is_refused(tmp_path):
    assert "field 'province'" in refused(tmp_path, [GOOD | {"province": 12}])


def test_an_unquoted_backslash_t_delimiter_means_tab(tmp_path):
    raw = yaml.safe_dump({"sources": [GOOD]}).replace("delimiter: ','", "delimiter: \\t")
    assert load_registry(write(tmp_path, None, raw))["CM-GD"].delimiter == "\t"


@pytest.mark.parametrize("number_id", ["13911112202", "CM-13911112202", "13911112202-X"])
def test_an_id_holding_a_mobile_number_is_refused(tmp_path, number_id):
    """It matches the pattern, but every page must mask it: the dashboards then refused to publish."""
    msg = refused(tmp_path, [GOOD | {"id": number_id}])
    assert "field 'id' holds a mobile number" in msg


def test_an_unknown_field_is_said_and_ignored(tmp_path, caplog):
    """INTERCHANGE 1.1 refuses missing fields, unknown values and duplicate ids, not extra keys; a
    misspelt `pull` would quietly make a pull source an uploading one, so it is said."""
    with caplog.at_level("WARNING", logger="numlake.registry"):
        sources = load_registry(write(tmp_path, [GOOD | {"pul": {"host": "x"}, "colour": "blue"}]))
    assert list(sources) == ["CM-GD"]
    assert "unknown field 'colour', 'pul' ignored" in caplog.text and "CM-GD" in caplog.text
