"""Reads the spec's YAML files and inlines every ``$ref``, remembering where each node came from.

Refs to the same target resolve to the same Python object, so a schema referenced from ten places is
one model, and the validator can report any node by its file and JSON pointer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import yaml

#: libyaml's safe loader when PyYAML was built with it (several times faster on a large spec), else PyYAML's.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SpecLoadError(Exception):
    """The spec files cannot be read or a ``$ref`` points nowhere."""


@attrs.frozen
class LoadedSpec:
    """The resolved document plus what the validator and the builder need to talk about it."""

    root_path: Path
    document: dict[str, Any]
    #: id(node) -> "file#/json/pointer" for every resolved mapping.
    locations: dict[int, str]
    #: Every spec file as read (file name -> raw YAML data), for checks on the unresolved text.
    raw_files: dict[str, Any]
    sha256: str
    #: id(node) -> the component it is a use of, for a ``$ref`` with sibling annotations (a property's own
    #: ``description`` beside the ref): the node carries the use's text, the target keeps its own identity.
    ref_targets: dict[int, Any] = attrs.field(factory=dict)

    def where(self, node: object) -> str:
        return self.locations.get(id(node), "<unknown>")

    def component(self, node: Any) -> Any:
        """The named schema ``node`` refers to (itself when it is not a ``$ref`` use with annotations)."""
        return self.ref_targets.get(id(node), node)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


class _Resolver:
    def __init__(self, root: Path) -> None:
        self.base = root.parent
        self.files: dict[str, Any] = {}
        self.cache: dict[tuple[str, str], Any] = {}
        self.locations: dict[int, str] = {}
        self.active: set[tuple[str, str]] = set()
        self.ref_targets: dict[int, Any] = {}

    def file(self, name: str) -> Any:
        if name not in self.files:
            path = self.base / name
            try:
                self.files[name] = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
            except OSError as exc:
                raise SpecLoadError(f"{name}: cannot read ({exc.strerror})") from None
            except yaml.YAMLError as exc:
                raise SpecLoadError(f"{name}: invalid YAML: {exc}") from None
        return self.files[name]

    def target(self, ref: str, current_file: str, where: str) -> tuple[str, str]:
        file_part, _, pointer = ref.partition("#")
        name = file_part or current_file
        if file_part and not (self.base / file_part).is_file():
            raise SpecLoadError(f"{where}: $ref {ref!r} names a file that does not exist")
        return name, pointer

    def lookup(self, name: str, pointer: str, where: str, ref: str) -> Any:
        node = self.file(name)
        for token in (t for t in pointer.split("/") if t):
            key = _unescape(token)
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                raise SpecLoadError(f"{where}: $ref {ref!r} points nowhere ({name}#{pointer})")
        return node

    def resolve(self, node: Any, file: str, pointer: str) -> Any:
        where = f"{file}#{pointer}"
        if isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str):
                raise SpecLoadError(f"{where}: $ref must be a string")
            name, target_pointer = self.target(ref, file, where)
            key = (name, target_pointer)
            if key not in self.cache:
                if key in self.active:
                    raise SpecLoadError(f"{where}: $ref {ref!r} is circular")
                self.active.add(key)
                raw = self.lookup(name, target_pointer, where, ref)
                self.cache[key] = self.resolve(raw, name, target_pointer)
                self.active.discard(key)
            resolved = self.cache[key]
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if siblings and isinstance(resolved, dict):
                # OpenAPI 3.1 allows annotations (description …) beside $ref: a shallow copy keeps the
                # target's `properties` object, which is how the builder knows it is the same model.
                merged = {**resolved, **siblings}
                self.locations[id(merged)] = where
                self.ref_targets[id(merged)] = resolved
                return merged
            return resolved
        if isinstance(node, dict):
            out = {k: self.resolve(v, file, f"{pointer}/{_escape(str(k))}") for k, v in node.items()}
            self.locations[id(out)] = where
            return out
        if isinstance(node, list):
            return [self.resolve(v, file, f"{pointer}/{i}") for i, v in enumerate(node)]
        return node


def spec_files(root: Path) -> Iterator[Path]:
    """Every YAML file of the spec folder, in a stable order (for the hash)."""
    yield from sorted(p for p in root.parent.iterdir() if p.suffix in (".yaml", ".yml"))


def load(root: Path) -> LoadedSpec:
    """Load ``root`` (spec/openapi.yaml) and everything it references."""
    resolver = _Resolver(root)
    raw_root = resolver.file(root.name)
    if not isinstance(raw_root, dict):
        raise SpecLoadError(f"{root.name}: the root must be a mapping")
    document = resolver.resolve(raw_root, root.name, "")
    digest = hashlib.sha256()
    for path in spec_files(root):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        resolver.file(path.name)
    return LoadedSpec(
        root_path=root,
        document=document,
        locations=resolver.locations,
        raw_files=dict(resolver.files),
        sha256=digest.hexdigest(),
        ref_targets=resolver.ref_targets,
    )
