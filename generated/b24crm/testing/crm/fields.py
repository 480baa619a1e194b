"""CRM object fields, defined once: the classic UPPER_CASE name, the ``crm.item`` camelCase name, the type.

Why one table: the deal ``crm.deal.add`` makes is the item ``crm.item.get(entityTypeId=2)`` returns, so
both APIs read and write the same stored row (keyed by the *canonical* name: the classic UPPER_CASE name
for leads, deals, contacts and companies, the item's ``upperName`` for other types) and only the naming
and the wire rendering differ. The rows below are the docs' ``crm.<entity>.fields`` / ``crm.item.fields``
response examples (``<NAME> <type> <flags Q=required R=read-only I=immutable M=multiple> <statusType>
<title>``; FACE_ID from the crm.contact.get table); user fields (``UF_CRM_*`` / ``ufCrm*``) are added per
portal as they are first written. ``tests/emulator/test_crm_fields.py`` checks the tables against the spec.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "CLASSIC_TYPES",
    "MULTIFIELDS",
    "Field",
    "Schema",
    "camel_name",
    "is_user_field",
    "now_iso",
    "parse_time",
    "schema_for",
    "upper_name",
]

#: Entity types served by the per-entity (classic) API, by their method-name stem.
CLASSIC_TYPES: dict[str, int] = {"lead": 1, "deal": 2, "contact": 3, "company": 4, "quote": 7}
MULTIFIELDS = ("PHONE", "EMAIL", "WEB", "IM", "LINK")
_INT_TYPES = {"integer", "user", "crm_company", "crm_contact", "crm_lead", "crm_quote", "crm_category", "crm_entity"}
_BOOL_TYPES = {"char", "boolean"}
#: Classic name -> crm.item name where the plain snake->camel rule does not give it.
_ITEM_NAMES = {
    "DATE_CREATE": "createdTime",
    "DATE_MODIFY": "updatedTime",
    "CREATED_BY_ID": "createdBy",
    "MODIFY_BY_ID": "updatedBy",
    "MOVED_BY_ID": "movedBy",
}
#: Lead stages are STATUS_ID in the classic API and stageId in crm.item.
_LEAD_ITEM_NAMES = {"STATUS_ID": "stageId", "STATUS_SEMANTIC_ID": "stageSemanticId"}
_UF_UPPER = re.compile(r"^UF_CRM_(?:(\d+)_)?(.+)$")
_UF_CAMEL = re.compile(r"^ufCrm(\d*)_(.+)$")

_DEAL = """
ID integer R - ID
TITLE string - - Title
TYPE_ID crm_status - DEAL_TYPE Type
CATEGORY_ID crm_category I - Sales Funnel
STAGE_ID crm_status - DEAL_STAGE Deal Stage
STAGE_SEMANTIC_ID string R - Stage Group
IS_NEW char R - New Deal
IS_RECURRING char - - Recurring Deal
IS_RETURN_CUSTOMER char - - Repeat Deal
IS_REPEATED_APPROACH char - - Repeated Approach
PROBABILITY integer - - Probability
CURRENCY_ID crm_currency - - Currency
OPPORTUNITY double - - Amount
IS_MANUAL_OPPORTUNITY char - - IS_MANUAL_OPPORTUNITY
TAX_VALUE double - - Tax Rate
COMPANY_ID crm_company - - Company
CONTACT_ID crm_contact - - Contact
CONTACT_IDS crm_contact M - Contacts
QUOTE_ID crm_quote R - Estimate
BEGINDATE date - - Start Date
CLOSEDATE date - - Close Date
OPENED char - - Available to All
CLOSED char - - Closed
COMMENTS string - - Comment
ASSIGNED_BY_ID user - - Responsible
CREATED_BY_ID user R - Created By
MODIFY_BY_ID user R - Modified By
MOVED_BY_ID user R - MOVED_BY_ID
DATE_CREATE datetime R - Creation Date
DATE_MODIFY datetime R - Modification Date
MOVED_TIME datetime R - MOVED_TIME
SOURCE_ID crm_status - SOURCE Source
SOURCE_DESCRIPTION string - - Additional Info about Source
LEAD_ID crm_lead R - Lead
ADDITIONAL_INFO string - - Additional Information
LOCATION_ID location - - Location
ORIGINATOR_ID string - - External Source
ORIGIN_ID string - - Identifier in External Source
UTM_SOURCE string - - Advertising System
UTM_MEDIUM string - - Traffic Type
UTM_CAMPAIGN string - - Campaign Identifier
UTM_CONTENT string - - Campaign Content
UTM_TERM string - - Campaign Search Condition
LAST_ACTIVITY_TIME datetime R - LAST_ACTIVITY_TIME
LAST_ACTIVITY_BY user R - LAST_ACTIVITY_BY
"""
_LEAD = """
ID integer R - ID
TITLE string - - Lead Title
HONORIFIC crm_status - HONORIFIC Salutation
NAME string - - First Name
SECOND_NAME string - - Middle Name
LAST_NAME string - - Last Name
BIRTHDATE date - - Birthdate
COMPANY_TITLE string - - Company Name
SOURCE_ID crm_status - SOURCE Source
SOURCE_DESCRIPTION string - - Source Description
STATUS_ID crm_status - STATUS Stage
STATUS_DESCRIPTION string - - Stage Description
STATUS_SEMANTIC_ID string R - Status Semantic
POST string - - Position
ADDRESS string - - Address
ADDRESS_2 string - - Address (Line 2)
ADDRESS_CITY string - - City
ADDRESS_POSTAL_CODE string - - Postal Code
ADDRESS_REGION string - - Region
ADDRESS_PROVINCE string - - Province
ADDRESS_COUNTRY string - - Country
ADDRESS_COUNTRY_CODE string - - Country Code
ADDRESS_LOC_ADDR_ID integer - - Location Address ID
CURRENCY_ID crm_currency - - Currency
OPPORTUNITY double - - Amount
IS_MANUAL_OPPORTUNITY char - - IS_MANUAL_OPPORTUNITY
OPENED char - - Available to All
COMMENTS string - - Comments
HAS_PHONE char R - Phone Provided
HAS_EMAIL char R - Email Provided
HAS_IMOL char R - Open Line Assigned
ASSIGNED_BY_ID user - - Responsible User
CREATED_BY_ID user R - Created By
MODIFY_BY_ID user R - Modified By
MOVED_BY_ID user R - MOVED_BY_ID
DATE_CREATE datetime R - Creation Date
DATE_MODIFY datetime R - Modification Date
MOVED_TIME datetime R - MOVED_TIME
COMPANY_ID crm_company - - Company
CONTACT_ID crm_contact - - Contact
CONTACT_IDS crm_contact M - CONTACT_IDS
IS_RETURN_CUSTOMER char R - Returning Lead
DATE_CLOSED datetime R - Closing Date
ORIGINATOR_ID string - - External Source
ORIGIN_ID string - - Identifier in External Source
UTM_SOURCE string - - Advertising System
UTM_MEDIUM string - - Traffic Type
UTM_CAMPAIGN string - - Campaign Identifier
UTM_CONTENT string - - Campaign Content
UTM_TERM string - - Campaign Search Term
LAST_ACTIVITY_TIME datetime R - LAST_ACTIVITY_TIME
LAST_ACTIVITY_BY user R - LAST_ACTIVITY_BY
PHONE crm_multifield M - Phone
EMAIL crm_multifield M - E-mail
WEB crm_multifield M - Website
IM crm_multifield M - Messenger
LINK crm_multifield M - LINK
"""
_CONTACT = """
ID integer R - ID
HONORIFIC crm_status - HONORIFIC Salutation
NAME string Q - First Name
SECOND_NAME string Q - Middle Name
LAST_NAME string Q - Last Name
PHOTO file - - Photo
BIRTHDATE date - - Birthdate
TYPE_ID crm_status - CONTACT_TYPE Contact Type
SOURCE_ID crm_status - SOURCE Source
SOURCE_DESCRIPTION string - - Additional Source Information
POST string - - Position
ADDRESS string - - Address
ADDRESS_2 string - - Address (Line 2)
ADDRESS_CITY string - - City
ADDRESS_POSTAL_CODE string - - Postal Code
ADDRESS_REGION string - - Region
ADDRESS_PROVINCE string - - Province
ADDRESS_COUNTRY string - - Country
ADDRESS_COUNTRY_CODE string - - Country Code
ADDRESS_LOC_ADDR_ID integer - - Location Address ID
COMMENTS string - - Comment
OPENED char - - Available to All
EXPORT char - - Participates in Contact Export
HAS_PHONE char R - Phone Set
HAS_EMAIL char R - E-mail Set
HAS_IMOL char R - Open Line Set
ASSIGNED_BY_ID user - - Responsible Person
CREATED_BY_ID user R - Created By
MODIFY_BY_ID user R - Modified By
DATE_CREATE datetime R - Creation Date
DATE_MODIFY datetime R - Modification Date
COMPANY_ID crm_company - - Company
COMPANY_IDS crm_company M - COMPANY_IDS
LEAD_ID crm_lead R - Lead
ORIGINATOR_ID string - - External Source
ORIGIN_ID string - - Identifier in External Source
ORIGIN_VERSION string - - Original Version
FACE_ID integer R - Face ID
UTM_SOURCE string - - Advertising System
UTM_MEDIUM string - - Traffic Type
UTM_CAMPAIGN string - - Campaign Identifier
UTM_CONTENT string - - Campaign Content
UTM_TERM string - - Campaign Search Condition
LAST_ACTIVITY_TIME datetime R - Last Activity
LAST_ACTIVITY_BY user R - Last Activity By
PHONE crm_multifield M - Phone
EMAIL crm_multifield M - E-mail
WEB crm_multifield M - Website
IM crm_multifield M - Messenger
LINK crm_multifield M - LINK
"""
_COMPANY = """
ID integer R - ID
TITLE string Q - Company Name
COMPANY_TYPE crm_status - COMPANY_TYPE Company Type
LOGO file - - Logo
ADDRESS string - - Physical Address
ADDRESS_2 string - - Address (line 2)
ADDRESS_CITY string - - City
ADDRESS_POSTAL_CODE string - - Postal Code
ADDRESS_REGION string - - Region
ADDRESS_PROVINCE string - - Province
ADDRESS_COUNTRY string - - Country
ADDRESS_COUNTRY_CODE string - - Country Code
ADDRESS_LOC_ADDR_ID integer - - Location Address ID
ADDRESS_LEGAL string - - Legal Address
REG_ADDRESS string - - Legal Address
REG_ADDRESS_2 string - - Legal Address (line 2)
REG_ADDRESS_CITY string - - Legal Address City
REG_ADDRESS_POSTAL_CODE string - - Legal Address Postal Code
REG_ADDRESS_REGION string - - Legal Address Region
REG_ADDRESS_PROVINCE string - - Legal Address Province
REG_ADDRESS_COUNTRY string - - Legal Address Country
REG_ADDRESS_COUNTRY_CODE string - - Legal Address Country Code
REG_ADDRESS_LOC_ADDR_ID integer - - Legal Address Location ID
BANKING_DETAILS string - - Banking Details
INDUSTRY crm_status - INDUSTRY Industry
EMPLOYEES crm_status - EMPLOYEES Number of Employees
CURRENCY_ID crm_currency - - Currency
REVENUE double - - Annual Revenue
OPENED char - - Available to Everyone
COMMENTS string - - Comment
HAS_PHONE char R - Phone Set
HAS_EMAIL char R - E-mail Set
HAS_IMOL char R - Open Line Set
IS_MY_COMPANY char - - My Company
ASSIGNED_BY_ID user - - Responsible Person
CREATED_BY_ID user R - Created By
MODIFY_BY_ID user R - Modified By
DATE_CREATE datetime R - Creation Date
DATE_MODIFY datetime R - Modification Date
CONTACT_ID crm_contact M - Contact
LEAD_ID crm_lead R - Lead
ORIGINATOR_ID string - - External Source
ORIGIN_ID string - - Identifier in External Source
ORIGIN_VERSION string - - Original Version
UTM_SOURCE string - - Advertising System
UTM_MEDIUM string - - Traffic Type
UTM_CAMPAIGN string - - Campaign Identifier
UTM_CONTENT string - - Campaign Content
UTM_TERM string - - Campaign Search Term
LAST_ACTIVITY_TIME datetime - - Last Activity Time
LAST_ACTIVITY_BY user - - Last Activity Author
LAST_COMMUNICATION_TIME string R - Last Communication Date
PHONE crm_multifield M - Phone
EMAIL crm_multifield M - E-mail
WEB crm_multifield M - Website
IM crm_multifield M - Messenger
LINK crm_multifield M - LINK
"""
_DYNAMIC = """
id/ID integer R - ID
title/TITLE string - - Name
xmlId/XML_ID string - - External code
createdTime/CREATED_TIME datetime R - Created at
updatedTime/UPDATED_TIME datetime R - Updated at
createdBy/CREATED_BY user R - Created by
updatedBy/UPDATED_BY user R - Updated by
assignedById/ASSIGNED_BY_ID user - - Assigned to
opened/OPENED boolean Q - Publicly available
webformId/WEBFORM_ID integer - - Created by CRM form
begindate/BEGINDATE date - - Start date
closedate/CLOSEDATE date - - End date
companyId/COMPANY_ID crm_company - - Company
contactId/CONTACT_ID crm_contact - - Contact
contactIds/CONTACT_IDS crm_contact M - CONTACT_IDS
contacts/CONTACTS crm_contact M - CONTACTS
observers/OBSERVERS user M - Observers
categoryId/CATEGORY_ID crm_category - - Pipeline
movedTime/MOVED_TIME datetime R - Moved at
movedBy/MOVED_BY user R - Moved by
stageId/STAGE_ID crm_status - DYNAMIC_1268_STAGE_52 Stage
previousStageId/PREVIOUS_STAGE_ID crm_status R DYNAMIC_1268_STAGE_52 Previous stage
sourceId/SOURCE_ID crm_status - SOURCE Source
sourceDescription/SOURCE_DESCRIPTION text - - Additional source info
currencyId/CURRENCY_ID crm_currency - - Currency
isManualOpportunity/IS_MANUAL_OPPORTUNITY boolean - - Amount calculation mode
opportunity/OPPORTUNITY double - - Amount
taxValue/TAX_VALUE double - - Tax amount
mycompanyId/MYCOMPANY_ID crm_company - - Your company details
lastActivityBy/LAST_ACTIVITY_BY user R - Last activity in timeline by
lastActivityTime/LAST_ACTIVITY_TIME datetime R - Last activity
"""


def _kind(type_: str) -> str:
    if type_ in _INT_TYPES:
        return "int"
    if type_ == "double":
        return "float"
    if type_ in _BOOL_TYPES:
        return "bool"
    if type_ in ("date", "datetime"):
        return type_
    if type_ == "crm_multifield":
        return "multifield"
    if type_ == "file":
        return "file"
    return "str"


@attrs.frozen
class Field:
    """One field of one entity type."""

    upper: str
    camel: str
    type: str
    title: str
    required: bool = False
    readonly: bool = False
    immutable: bool = False
    multiple: bool = False
    status_type: str | None = None
    dynamic: bool = False
    #: How values are stored and compared: int, float, bool, date, datetime, multifield or str.
    kind: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "kind", _kind(self.type))

    def descriptor(self, *, item: bool, status_type: str | None = None) -> dict[str, Any]:
        """The ``*.fields`` entry (``upperName`` added for crm.item, as the server does)."""
        row: dict[str, Any] = {
            "type": self.type,
            "isRequired": self.required,
            "isReadOnly": self.readonly,
            "isImmutable": self.immutable,
            "isMultiple": self.multiple,
            "isDynamic": self.dynamic,
            "title": self.title,
        }
        if status_type or self.status_type:
            row["statusType"] = status_type or self.status_type
        if item:
            row["upperName"] = self.upper
        return row


@attrs.frozen
class Schema:
    """The standard fields of one entity type, looked up by either naming."""

    entity_type_id: int
    fields: tuple[Field, ...]
    #: An open schema (a family the emulator knows only from the spec) keeps any UPPER_CASE key as text.
    open: bool = False
    by_upper: Mapping[str, Field] = attrs.field(init=False)
    by_camel: Mapping[str, Field] = attrs.field(init=False)
    #: User fields (and an open family's fields) met so far, made once.
    extra: dict[str, Field] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "by_upper", {f.upper: f for f in self.fields})
        object.__setattr__(self, "by_camel", {f.camel: f for f in self.fields})

    @property
    def stage_field(self) -> str:
        """The canonical name of the stage field (STATUS_ID for leads, STAGE_ID otherwise)."""
        return "STATUS_ID" if self.entity_type_id in (1, 7) else "STAGE_ID"

    @property
    def semantic_field(self) -> str:
        return "STATUS_SEMANTIC_ID" if self.entity_type_id in (1, 7) else "STAGE_SEMANTIC_ID"

    @property
    def has_multifields(self) -> bool:
        return "PHONE" in self.by_upper

    def field(self, upper: str) -> Field | None:
        """A standard field, or a user field (any ``UF_*`` name, typed as a string)."""
        found = self.by_upper.get(upper)
        if found is None and (is_user_field(upper) or (self.open and upper == upper.upper())):
            found = self.extra.get(upper)
            if found is None:
                found = self.extra[upper] = Field(upper, camel_name(upper), "string", upper, dynamic=True)
        return found

    def from_camel(self, camel: str) -> Field | None:
        """The field a crm.item name denotes (``ufCrm*`` names map to ``UF_CRM_*``)."""
        found = self.by_camel.get(camel)
        if found is None and camel.startswith("ufCrm"):
            return self.field(upper_name(camel))
        return found


def is_user_field(name: str) -> bool:
    """``UF_*`` (classic naming) — user fields are kept whatever their name."""
    return name.startswith("UF_")


def camel_name(upper: str) -> str:
    """``UF_CRM_2_1639669411830`` -> ``ufCrm2_1639669411830``, ``UF_CRM_17212`` -> ``ufCrm_17212``,
    ``ASSIGNED_BY_ID`` -> ``assignedById``."""
    match = _UF_UPPER.match(upper)
    if match:
        return f"ufCrm{match.group(1) or ''}_{match.group(2)}"
    head, *rest = upper.lower().split("_")
    return head + "".join(part.capitalize() for part in rest)


def upper_name(camel: str) -> str:
    """The inverse of :func:`camel_name`."""
    match = _UF_CAMEL.match(camel)
    if match:
        type_part = f"{match.group(1)}_" if match.group(1) else ""
        return f"UF_CRM_{type_part}{match.group(2)}"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).upper()


def _parse(table: str, *, classic_entity: int | None) -> tuple[Field, ...]:
    fields = []
    for line in table.strip().splitlines():
        name, type_, flags, status_type, title = line.split(" ", 4)
        if "/" in name:
            camel, upper = name.split("/", 1)
        else:
            upper = name
            renames = _LEAD_ITEM_NAMES if classic_entity == 1 else {}
            camel = renames.get(upper) or _ITEM_NAMES.get(upper) or camel_name(upper)
        fields.append(
            Field(
                upper,
                camel,
                type_,
                title,
                required="Q" in flags,
                readonly="R" in flags,
                immutable="I" in flags,
                multiple="M" in flags,
                status_type=None if status_type == "-" else status_type,
            )
        )
    return tuple(fields)


_SCHEMAS: dict[int, Schema] = {
    1: Schema(1, _parse(_LEAD, classic_entity=1)),
    2: Schema(2, _parse(_DEAL, classic_entity=2)),
    3: Schema(3, _parse(_CONTACT, classic_entity=3)),
    4: Schema(4, _parse(_COMPANY, classic_entity=4)),
}
_DYNAMIC_FIELDS = _parse(_DYNAMIC, classic_entity=None)


def schema_for(entity_type_id: int) -> Schema:
    """The schema of a type: its own table for 1-4, the smart-process table for quotes, invoices, SPAs."""
    found = _SCHEMAS.get(entity_type_id)
    if found is None:
        fields = _DYNAMIC_FIELDS
        if entity_type_id == 7:  # a quote's stage is STATUS_ID in the classic API, stageId in crm.item
            fields = tuple(attrs.evolve(f, upper="STATUS_ID") if f.upper == "STAGE_ID" else f for f in fields)
        found = _SCHEMAS[entity_type_id] = Schema(entity_type_id, fields)
    return found


def now_iso() -> str:
    """The portal's clock, as the REST layer renders datetimes (ISO-8601 with offset)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def parse_time(value: Any) -> float | None:
    """An ISO date or datetime as a timestamp (naive = UTC); None when it is not one."""
    if value is None or value == "":
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()
