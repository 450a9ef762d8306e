"""Field types with JSON's own semantics, for request models.

Pydantic's lax mode turns `true` into 1 and `"3"` into 3; its strict mode refuses `1.0` for an integer,
which JSON Schema (and so every generated client and schemathesis) counts as an integer. These types
take what JSON Schema takes and nothing else.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Strict


def _int(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be an integer")
        return int(value)
    return value


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    return float(value)


def _str(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("must be a boolean")
    return value


AS_INT = BeforeValidator(_int)
AS_NUMBER = BeforeValidator(_number)
AS_STR = BeforeValidator(_str)
AS_BOOL = BeforeValidator(_bool)

# Constraints must sit before the validator in `Annotated`, or pydantic cannot show them in the JSON
# Schema; a constrained field is written `Annotated[int, Strict(), Field(ge=1), AS_INT]`, not
# `JsonInt = Field(ge=1)`.
JsonInt = Annotated[int, Strict(), AS_INT]
JsonFloat = Annotated[float, Strict(), AS_NUMBER]
JsonStr = Annotated[str, Strict(), AS_STR]
JsonBool = Annotated[bool, Strict(), AS_BOOL]
