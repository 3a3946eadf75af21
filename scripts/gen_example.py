#!/usr/bin/env python3
"""Scale the example dbt project (examples/shop) to any number of models.

Why: decp's lineage packs must stay within budget on projects with hundreds or
thousands of models, and `fct_orders` must have a 200+ node lineage for the
grain-change walkthrough. Real projects of that size are rarely public, so we
grow our own: the hand-written base project is copied, then business domains
(loyalty, subscriptions, tax, ...) are added, each with its own source, staging
views, intermediate models and marts, most of them reading `fct_orders`, some
joining another domain. Every model gets yml docs with typed columns and tests,
so a real `dbt parse` of the output yields a realistic manifest.

The output depends only on the arguments: same --models and --seed, same bytes.
Standard library only, so it runs anywhere python3 does.

    python3 scripts/gen_example.py OUT_DIR --models 260
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BASE_PROJECT = REPO_ROOT / "examples" / "shop"
DEFAULT_MODELS = 260
DEFAULT_SEED = 20240611
FOCAL_MODEL = "fct_orders"

# Files that a dbt run leaves behind; never copied into a generated project.
IGNORED_IN_BASE = ("target", "logs", "dbt_packages", "profiles.yml", ".user.yml")


# --------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class EntityName:
    """A raw table of a domain: plural table name and singular key stem."""

    table: str
    key: str

    @property
    def label(self) -> str:
        return self.key.replace("_", " ")


@dataclass(frozen=True)
class Stem:
    """A business domain template. `anchor` says what its main table hangs off."""

    name: str
    entities: tuple[EntityName, ...]
    anchor: str = "order"  # "order" (reads fct_orders) or "product" (does not)
    tags: tuple[str, ...] = ()
    purpose: str = ""


# One domain template per line: name | anchor | tags | purpose | raw tables (plural/singular).
# Order matters: domains are added in this order, and the product-anchored ones (which do
# not read fct_orders) come last so that a 250-model project is centred on fct_orders.
STEM_TABLE = """
loyalty           | order   | -       | the points programme                 | point_awards/point_award point_reversals/point_reversal award_notifications/award_notification
subscriptions     | order   | finance | repeat-delivery subscriptions        | subscriptions/subscription renewals/renewal plan_changes/plan_change
marketplace       | order   | finance | third-party sellers on the shop      | listings/listing commissions/commission seller_payouts/seller_payout
gift_cards        | order   | finance | gift card sales and balances         | gift_cards/gift_card card_loads/card_load card_redemptions/card_redemption
reviews           | order   | -       | product reviews and their moderation | reviews/review review_votes/review_vote moderation_actions/moderation_action
wishlists         | order   | -       | saved items and price alerts         | wishlist_items/wishlist_item price_alerts/price_alert wishlist_shares/wishlist_share
support           | order   | pii     | customer service tickets             | tickets/ticket ticket_messages/ticket_message escalations/escalation
advertising       | order   | -       | paid media attribution               | ad_conversions/ad_conversion ad_clicks/ad_click spend_lines/spend_line
affiliates        | order   | finance | affiliate partner commissions        | affiliate_orders/affiliate_order affiliate_clicks/affiliate_click affiliate_fees/affiliate_fee
email             | order   | pii     | lifecycle e-mail campaigns           | email_sends/email_send email_clicks/email_click unsubscribes/unsubscribe
push              | order   | -       | mobile push notifications            | push_sends/push_send push_opens/push_open device_tokens/device_token
web_sessions      | order   | -       | storefront clickstream               | sessions/session page_views/page_view cart_events/cart_event
search            | order   | -       | on-site search                       | search_queries/search_query search_clicks/search_click zero_results/zero_result
recommendations   | order   | -       | product recommendations              | rec_impressions/rec_impression rec_clicks/rec_click rec_feedback/rec_feedback_item
picking           | order   | -       | warehouse picking and packing        | pick_tasks/pick_task pack_events/pack_event wave_plans/wave_plan
pricing           | order   | -       | price changes and markdowns          | price_changes/price_change competitor_prices/competitor_price markdowns/markdown
fraud             | order   | pii     | payment fraud screening              | risk_checks/risk_check fraud_alerts/fraud_alert manual_reviews/manual_review
checkout          | order   | -       | the checkout funnel                  | checkout_sessions/checkout_session payment_attempts/payment_attempt address_checks/address_check
tax               | order   | finance | sales tax and VAT                    | tax_lines/tax_line tax_adjustments/tax_adjustment tax_filings/tax_filing
invoicing         | order   | finance | customer invoices                    | invoices/invoice invoice_lines/invoice_line credit_notes/credit_note
chargebacks       | order   | finance | card disputes                        | chargebacks/chargeback dispute_documents/dispute_document dispute_outcomes/dispute_outcome
settlements       | order   | finance | payment provider settlements         | settlement_lines/settlement_line settlement_fees/settlement_fee bank_transfers/bank_transfer
carriers          | order   | -       | carrier tracking and billing         | tracking_events/tracking_event carrier_invoices/carrier_invoice delivery_exceptions/delivery_exception
delivery_slots    | order   | -       | booked delivery windows              | slot_bookings/slot_booking missed_slots/missed_slot slot_changes/slot_change
reverse_logistics | order   | -       | returned goods handling              | return_labels/return_label inspections/inspection restocks/restock
pos               | order   | finance | in-store tills                       | pos_transactions/pos_transaction pos_voids/pos_void cash_counts/cash_count
click_collect     | order   | -       | click and collect                    | pickups/pickup pickup_reminders/pickup_reminder uncollected_parcels/uncollected_parcel
call_center       | order   | pii     | phone support                        | calls/call call_dispositions/call_disposition callbacks/callback
surveys           | order   | -       | post-purchase surveys                | survey_responses/survey_response nps_scores/nps_score survey_invitations/survey_invitation
referrals         | order   | -       | refer-a-friend                       | referral_signups/referral_signup referral_rewards/referral_reward referral_codes/referral_code
bundles           | order   | -       | product bundles                      | bundle_sales/bundle_sale bundle_components/bundle_component bundle_offers/bundle_offer
experiments       | order   | -       | A/B tests                            | experiment_assignments/experiment_assignment experiment_goals/experiment_goal experiment_flags/experiment_flag
consent           | order   | pii     | privacy consent                      | consent_events/consent_event privacy_requests/privacy_request cookie_choices/cookie_choice
identity          | order   | pii     | account security                     | login_events/login_event password_resets/password_reset mfa_challenges/mfa_challenge
packaging         | order   | -       | packaging and transit damage         | package_uses/package_use damage_reports/damage_report box_swaps/box_swap
installments      | order   | finance | pay-later plans                      | installment_plans/installment_plan installment_payments/installment_payment late_fees/late_fee
warranty          | order   | -       | warranty claims and repairs          | warranty_claims/warranty_claim repairs/repair warranty_registrations/warranty_registration
corporate_sales   | order   | finance | business customers                   | quotes/quote contracts/contract account_reviews/account_review
inventory         | product | -       | stock on hand                        | stock_levels/stock_level stock_movements/stock_movement stock_counts/stock_count
procurement       | product | -       | buying stock from suppliers          | purchase_orders/purchase_order po_lines/po_line goods_receipts/goods_receipt
suppliers         | product | finance | supplier performance                 | supplier_items/supplier_item supplier_invoices/supplier_invoice supplier_scores/supplier_score
content           | product | -       | product page content                 | product_pages/product_page content_edits/content_edit media_assets/media_asset
"""


def parse_stems(table: str) -> tuple[Stem, ...]:
    stems = []
    for line in table.strip().splitlines():
        name, anchor, tags, purpose, tables = (part.strip() for part in line.split("|"))
        entities = tuple(EntityName(*pair.split("/")) for pair in tables.split())
        tag_tuple = () if tags == "-" else tuple(tags.split(","))
        stems.append(Stem(name, entities, anchor, tag_tuple, purpose))
    return tuple(stems)


STEMS = parse_stems(STEM_TABLE)

# Business units: the same domain run separately per region or channel, as in real shops.
# ("" is the domain itself; the rest are regional or channel copies.)
QUALIFIER_WORDS = (
    "emea amer apac b2b outlet mobile nordics latam wholesale partner legacy dach iberia benelux"
)
QUALIFIERS: tuple[str, ...] = ("", *QUALIFIER_WORDS.split())


@dataclass(frozen=True)
class Attribute:
    """A raw column and how staging turns it into a typed, renamed column."""

    raw: str
    raw_type: str
    name: str
    data_type: str
    expr: str
    doc: str
    measure: bool = False
    pii: bool = False


# One raw column per line: raw name | raw type | staged name | staged type | flags | staging
# expression | description ({label} is the entity). Flags: measure (summable), pii.
ATTRIBUTE_TABLE = """
amount_cents     | bigint    | amount_usd         | decimal(18,2) | measure | {{ cents_to_amount('amount_cents') }} | Amount of the {label} in US dollars.
fee_cents        | bigint    | fee_usd            | decimal(18,2) | measure | {{ cents_to_amount('fee_cents') }}    | Fee charged for the {label} in US dollars.
qty              | integer   | quantity           | integer       | measure | coalesce(qty, 0)                      | Units involved in the {label}.
points           | integer   | points             | integer       | measure | coalesce(points, 0)                   | Loyalty points attached to the {label}.
duration_seconds | integer   | duration_minutes   | double        | measure | duration_seconds / 60.0               | How long the {label} took, in minutes.
score            | double    | score              | double        | measure | round(score, 3)                       | Model or survey score of the {label}, 0 to 1.
channel          | varchar   | channel            | varchar       | -       | lower(coalesce(channel, 'web'))       | Channel the {label} came through.
country          | varchar   | country_code       | varchar       | -       | upper(country)                        | Two-letter country code of the {label}.
is_test          | boolean   | is_test_record     | boolean       | -       | coalesce(is_test, false)              | True for QA traffic; filtered out in marts.
priority         | integer   | priority_rank      | integer       | -       | coalesce(priority, 3)                 | Priority of the {label}, 1 (urgent) to 5 (low).
external_ref     | varchar   | external_reference | varchar       | -       | trim(external_ref)                    | Reference of the {label} in the vendor system.
reason           | varchar   | reason_code        | varchar       | -       | lower(coalesce(reason, 'unknown'))    | Reason recorded for the {label}.
device           | varchar   | device_type        | varchar       | -       | lower(device)                         | Device used for the {label} (desktop, phone, tablet, kiosk).
contact_email    | varchar   | contact_email      | varchar       | pii     | lower(trim(contact_email))            | E-mail address given for the {label}. Personal data.
agent_name       | varchar   | handled_by         | varchar       | pii     | agent_name                            | Staff member who handled the {label}. Personal data.
resolved_at      | timestamp | resolved_at        | timestamp     | -       | resolved_at                           | When the {label} was closed; null while open.
currency         | varchar   | currency_code      | varchar       | -       | upper(currency)                       | Currency of the {label}'s amounts.
"""


def parse_attributes(table: str) -> tuple[Attribute, ...]:
    attributes = []
    for line in table.strip().splitlines():
        raw, raw_type, name, data_type, flags, expr, doc = (p.strip() for p in line.split("|"))
        attributes.append(
            Attribute(raw, raw_type, name, data_type, expr, doc, "measure" in flags, "pii" in flags)
        )
    return tuple(attributes)


ATTRIBUTES = parse_attributes(ATTRIBUTE_TABLE)

STATUS_SETS: tuple[tuple[str, ...], ...] = (
    ("open", "in_progress", "closed", "cancelled"),
    ("pending", "approved", "rejected"),
    ("active", "paused", "ended"),
    ("sent", "delivered", "failed", "bounced"),
    ("created", "confirmed", "completed", "voided"),
    ("new", "matched", "disputed", "settled"),
)


# --------------------------------------------------------------------------- plan


@dataclass
class Column:
    name: str
    data_type: str
    description: str
    tests: list[object] = field(default_factory=list)
    pii: bool = False


@dataclass
class Entity:
    """A raw table of one generated domain, with its chosen attributes."""

    name: EntityName
    link_columns: list[Column]
    attributes: list[Attribute]
    statuses: tuple[str, ...]

    @property
    def key_column(self) -> str:
        return f"{self.name.key}_id"

    @property
    def measure(self) -> Attribute:
        return next(a for a in self.attributes if a.measure)

    @property
    def has_pii(self) -> bool:
        return any(a.pii for a in self.attributes)

    def staged_columns(self) -> list[Column]:
        cols = [
            Column(
                self.key_column,
                "bigint",
                f"Primary key of the {self.name.label}.",
                ["unique", "not_null"],
            )
        ]
        cols += [
            Column(c.name, c.data_type, c.description, list(c.tests)) for c in self.link_columns
        ]
        cols.append(
            Column(
                f"{self.name.key}_status",
                "varchar",
                f"Lifecycle status of the {self.name.label}.",
                [{"accepted_values": {"arguments": {"values": list(self.statuses)}}}],
            )
        )
        cols += [
            Column(a.name, a.data_type, a.doc.format(label=self.name.label), pii=a.pii)
            for a in self.attributes
        ]
        cols.append(
            Column("created_at", "timestamp", f"When the {self.name.label} was recorded, UTC.")
        )
        cols.append(Column("updated_at", "timestamp", "Last change in the source system, UTC."))
        return cols


@dataclass
class Model:
    """One generated model: where it lives, its SQL and its yml entry."""

    name: str
    folder: str
    sql: str
    description: str
    columns: list[Column]
    tags: list[str] = field(default_factory=list)
    meta: dict[str, object] = field(default_factory=dict)


@dataclass
class Domain:
    name: str
    stem: Stem
    entities: list[Entity]
    models: list[Model] = field(default_factory=list)
    exposure: dict[str, object] | None = None
    singular_test: tuple[str, str] | None = None

    def staging_name(self, entity: Entity) -> str:
        return f"stg_{self.name}__{entity.name.table}"

    @property
    def source_schema(self) -> str:
        return f"raw_{self.name}"

    @property
    def title(self) -> str:
        region = self.name[len(self.stem.name) + 1 :]
        suffix = (
            f" ({region.upper() if len(region) <= 5 else region.replace('_', ' ')})"
            if region
            else ""
        )
        return f"{self.stem.name.replace('_', ' ').capitalize()}{suffix}"


def domain_names() -> Iterator[tuple[str, Stem]]:
    """Every stem once per qualifier, then numbered repeats: enough for any size."""
    round_no = 0
    while True:
        for qualifier in QUALIFIERS:
            for stem in STEMS:
                parts = [stem.name, qualifier, str(round_no) if round_no else ""]
                yield "_".join(p for p in parts if p), stem
        round_no += 1


def pick_entities(rng: random.Random, stem: Stem, extra_attributes: int) -> list[Entity]:
    """Choose 2-3 raw tables and their columns. The first table is the domain's anchor."""
    count = 3 if rng.random() < 0.3 else 2
    names = list(stem.entities[:count])
    entities: list[Entity] = []
    measures = [a for a in ATTRIBUTES if a.measure]
    others = [a for a in ATTRIBUTES if not a.measure and (a.pii is False or "pii" in stem.tags)]
    for index, name in enumerate(names):
        if index == 0 and stem.anchor == "order":
            links = [
                Column("order_id", "bigint", "Order this record belongs to.", ["not_null"]),
                Column("account_id", "bigint", "Shopper account behind the record."),
            ]
        elif index == 0:
            links = [Column("product_id", "bigint", "Product this record is about.", ["not_null"])]
        else:
            parent = names[0]
            links = [
                Column(
                    f"{parent.key}_id",
                    "bigint",
                    f"The {parent.label} this record belongs to.",
                    ["not_null"],
                )
            ]
        attrs = [rng.choice(measures)]
        attrs += rng.sample(others, k=min(len(others), rng.randint(3, 6) + extra_attributes))
        if rng.random() < 0.4:
            second = rng.choice([m for m in measures if m is not attrs[0]])
            attrs.insert(1, second)
        attrs.sort(key=lambda a: ATTRIBUTES.index(a))
        entities.append(Entity(name, links, attrs, rng.choice(STATUS_SETS)))
    return entities


# --------------------------------------------------------------------------- SQL


def cte(name: str, body: str) -> str:
    inner = "\n".join(f"    {line}" if line else "" for line in body.strip("\n").splitlines())
    return f"{name} as (\n\n{inner}\n\n)"


def with_ctes(ctes: list[tuple[str, str]], final: str) -> str:
    head = ",\n\n".join(cte(n, b) for n, b in ctes)
    return f"with {head}\n\n{final.strip()}\n"


def select_list(items: Iterable[str], indent: int = 4) -> str:
    pad = " " * indent
    return ",\n".join(f"{pad}{item}" for item in items)


def staging_sql(domain: Domain, entity: Entity, rng: random.Random) -> str:
    src = f"select * from {{{{ source('{domain.name}', '{entity.name.table}') }}}}"
    if rng.random() < 0.35:
        src += "\nwhere _deleted_at is null"
    items = [f"id as {entity.key_column}"]
    items += [c.name for c in entity.link_columns]
    items.append(f"lower(status) as {entity.name.key}_status")
    for attr in entity.attributes:
        items.append(attr.name if attr.expr == attr.name else f"{attr.expr} as {attr.name}")
    items += ["created_at", "updated_at"]
    body = f"select\n{select_list(items)}\nfrom source"
    return with_ctes([("source", src), ("renamed", body)], "select * from renamed")


def config_block(**options: object) -> str:
    parts = []
    for key, value in options.items():
        rendered = f"'{value}'" if isinstance(value, str) else json.dumps(value).replace('"', "'")
        parts.append(f"{key}={rendered}")
    if len(parts) <= 2:
        return "{{ config(" + ", ".join(parts) + ") }}\n\n"
    return "{{\n    config(\n" + ",\n".join(f"        {p}" for p in parts) + "\n    )\n}}\n\n"


# --------------------------------------------------------------------------- domain builder


class DomainBuilder:
    """Builds one domain's models in dependency order (a model only refs earlier ones)."""

    def __init__(self, domain: Domain, rng: random.Random, earlier: list[Domain]):
        self.d = domain
        self.rng = rng
        self.earlier = earlier
        self.anchor = domain.entities[0]

    # names
    def stg(self, entity: Entity) -> str:
        return self.d.staging_name(entity)

    @property
    def int_base(self) -> str:
        suffix = "with_orders" if self.d.stem.anchor == "order" else "with_products"
        return f"int_{self.d.name}__{self.anchor.name.table}_{suffix}"

    @property
    def int_daily(self) -> str:
        return f"int_{self.d.name}__{self.anchor.name.key}_daily"

    @property
    def fct(self) -> str:
        return f"fct_{self.d.name}__{self.anchor.name.table}"

    @property
    def daily_summary(self) -> str:
        return f"{self.d.name}__daily_summary"

    def domain_tags(self, *extra: str) -> list[str]:
        tags = list(self.d.stem.tags)
        if any(e.has_pii for e in self.d.entities) and "pii" not in tags:
            tags.append("pii")
        return sorted(set(tags) | set(extra))

    def build(self) -> None:
        """Append the domain's models to `self.d.models`, each after the models it reads."""
        add = self.d.models.append
        for entity in self.d.entities:
            add(self.staging(entity))
        add(self.base_intermediate())
        for child in self.d.entities[1:]:
            add(self.rollup_intermediate(child))
        add(self.daily_intermediate())
        add(self.fact())
        add(self.daily_mart())
        add(self.anchor_summary())
        if self.rng.random() < 0.6:
            add(self.channel_mix())
        partner = self.cross_partner()
        if partner is not None and self.rng.random() < 0.7:
            add(self.cross_domain(partner))
        if self.rng.random() < 0.55:
            add(self.weekly_report())
        if self.rng.random() < 0.3:
            self.d.exposure = self.make_exposure()
        if self.rng.random() < 0.2:
            self.d.singular_test = self.make_singular_test()

    # staging
    def staging(self, entity: Entity) -> Model:
        tags = ["pii"] if entity.has_pii else []
        return Model(
            name=self.stg(entity),
            folder=f"staging/{self.d.name}",
            sql=staging_sql(self.d, entity, self.rng),
            description=f"{entity.name.label.capitalize()} records from {self.d.title}, renamed and typed; "
            f"one row per {entity.name.label}.",
            columns=entity.staged_columns(),
            tags=tags,
        )

    # intermediate
    def base_intermediate(self) -> Model:
        e = self.anchor
        cols = [c for c in e.staged_columns()]
        for c in cols:
            c.tests = [t for t in c.tests if t in ("unique", "not_null")]
        if self.d.stem.anchor == "order":
            orders = (
                "select order_id, order_date, sales_channel, net_revenue_usd, order_status\n"
                "from {{ ref('fct_orders') }}"
            )
            final = (
                f"select\n    {e.name.table}.*,\n    orders.order_date,\n    orders.sales_channel,\n"
                f"    orders.order_status,\n    orders.net_revenue_usd as order_net_revenue_usd\n"
                f"from {e.name.table}\nleft join orders\n    on {e.name.table}.order_id = orders.order_id"
            )
            ctes = [
                (e.name.table, f"select * from {{{{ ref('{self.stg(e)}') }}}}"),
                ("orders", orders),
            ]
            cols[1].tests = [
                "not_null",
                {"relationships": {"arguments": {"to": "ref('fct_orders')", "field": "order_id"}}},
            ]
            cols += [
                Column("order_date", "date", "Checkout date of the related order."),
                Column("sales_channel", "varchar", "Storefront that took the related order."),
                Column("order_status", "varchar", "Status of the related order."),
                Column(
                    "order_net_revenue_usd", "decimal(18,2)", "Net revenue of the related order."
                ),
            ]
            description = (
                f"{e.name.label.capitalize()}s joined to their order, so that {self.d.stem.purpose} "
                "can be reported next to revenue."
            )
        else:
            products = (
                "select product_id, product_name, department_name, list_price_usd\n"
                "from {{ ref('dim_products') }}"
            )
            final = (
                f"select\n    {e.name.table}.*,\n    products.product_name,\n    products.department_name,\n"
                f"    products.list_price_usd\nfrom {e.name.table}\nleft join products\n"
                f"    on {e.name.table}.product_id = products.product_id"
            )
            ctes = [
                (e.name.table, f"select * from {{{{ ref('{self.stg(e)}') }}}}"),
                ("products", products),
            ]
            cols += [
                Column("product_name", "varchar", "Title of the product."),
                Column("department_name", "varchar", "Department of the product."),
                Column("list_price_usd", "decimal(18,2)", "Current list price of the product."),
            ]
            description = (
                f"{e.name.label.capitalize()}s with product attributes for {self.d.stem.purpose}."
            )
        if any(a.name == "is_test_record" for a in e.attributes):
            ctes[0] = (ctes[0][0], ctes[0][1] + "\nwhere not is_test_record")
        return Model(
            self.int_base,
            f"intermediate/{self.d.name}",
            with_ctes(ctes, final),
            description,
            cols,
            meta={"grain": e.key_column},
        )

    def rollup_intermediate(self, child: Entity) -> Model:
        parent_key = self.anchor.key_column
        m = child.measure
        name = f"int_{self.d.name}__{child.name.table}_per_{self.anchor.name.key}"
        agg = (
            f"select\n    {parent_key},\n    count(*) as {child.name.table}_count,\n"
            f"    sum({m.name}) as total_{m.name},\n    max(created_at) as last_{child.name.key}_at\n"
            f"from {{{{ ref('{self.stg(child)}') }}}}\ngroup by 1"
        )
        final = (
            f"select\n    base.{parent_key},\n    coalesce(rollup.{child.name.table}_count, 0) as "
            f"{child.name.table}_count,\n    coalesce(rollup.total_{m.name}, 0) as total_{m.name},\n"
            f"    rollup.last_{child.name.key}_at\nfrom base\nleft join rollup\n"
            f"    on base.{parent_key} = rollup.{parent_key}"
        )
        ctes = [
            ("base", f"select {parent_key} from {{{{ ref('{self.int_base}') }}}}"),
            ("rollup", agg),
        ]
        cols = [
            Column(parent_key, "bigint", f"The {self.anchor.name.label}.", ["unique", "not_null"]),
            Column(f"{child.name.table}_count", "integer", f"Number of {child.name.label}s."),
            Column(
                f"total_{m.name}", m.data_type, f"Sum of {m.name} over the {child.name.label}s."
            ),
            Column(f"last_{child.name.key}_at", "timestamp", f"Most recent {child.name.label}."),
        ]
        return Model(
            name,
            f"intermediate/{self.d.name}",
            with_ctes(ctes, final),
            f"{child.name.label.capitalize()}s rolled up to one row per {self.anchor.name.label}.",
            cols,
        )

    def daily_intermediate(self) -> Model:
        e = self.anchor
        m = e.measure
        who = "account_id" if self.d.stem.anchor == "order" else "product_id"
        body = (
            f"select\n    cast(created_at as date) as activity_date,\n    count(*) as {e.name.table}_count,\n"
            f"    count(distinct {who}) as distinct_{who.removesuffix('_id')}s,\n"
            f"    sum({m.name}) as total_{m.name}\nfrom {{{{ ref('{self.int_base}') }}}}\ngroup by 1"
        )
        cols = [
            Column(
                "activity_date",
                "date",
                "Day the records were created, UTC.",
                ["unique", "not_null"],
            ),
            Column(f"{e.name.table}_count", "integer", f"{e.name.label.capitalize()}s that day."),
            Column(
                f"distinct_{who.removesuffix('_id')}s",
                "integer",
                f"Distinct {who.removesuffix('_id')}s that day.",
            ),
            Column(f"total_{m.name}", m.data_type, f"Sum of {m.name} that day."),
        ]
        return Model(
            self.int_daily,
            f"intermediate/{self.d.name}",
            body + "\n",
            f"Daily activity of {self.d.stem.purpose} in {self.d.title}.",
            cols,
        )

    # marts
    def fact(self) -> Model:
        e = self.anchor
        incremental = self.rng.random() < 0.35
        rollups = [
            f"int_{self.d.name}__{c.name.table}_per_{e.name.key}" for c in self.d.entities[1:]
        ]
        ctes = [
            (
                "base",
                f"select * from {{{{ ref('{self.int_base}') }}}}"
                + (
                    "\n{% if is_incremental() %}\nwhere updated_at > (select max(updated_at) from {{ this }})\n{% endif %}"
                    if incremental
                    else ""
                ),
            )
        ]
        ctes += [(f"r{i}", f"select * from {{{{ ref('{r}') }}}}") for i, r in enumerate(rollups, 1)]
        base_cols = [c for c in self.int_base_columns()]
        items = [f"base.{c.name}" for c in base_cols]
        extra_cols: list[Column] = []
        joins = []
        for i, child in enumerate(self.d.entities[1:], 1):
            m = child.measure
            items += [
                f"r{i}.{child.name.table}_count",
                f"r{i}.total_{m.name} as {child.name.key}_{m.name}",
            ]
            extra_cols += [
                Column(f"{child.name.table}_count", "integer", f"Number of {child.name.label}s."),
                Column(
                    f"{child.name.key}_{m.name}",
                    m.data_type,
                    f"Sum of {m.name} over the {child.name.label}s.",
                ),
            ]
            joins.append(f"left join r{i}\n    on base.{e.key_column} = r{i}.{e.key_column}")
        final = f"select\n{select_list(items)}\nfrom base\n" + "\n".join(joins)
        config = (
            config_block(
                materialized="incremental",
                unique_key=e.key_column,
                on_schema_change="append_new_columns",
            )
            if incremental
            else ""
        )
        cols = base_cols + extra_cols
        cols[0].tests = ["unique", "not_null"]
        return Model(
            self.fct,
            f"marts/{self.d.name}",
            config + with_ctes(ctes, final),
            f"One row per {e.name.label} in {self.d.title}, with everything known about it. "
            f"The main fact table for {self.d.stem.purpose}.",
            cols,
            tags=self.domain_tags(),
            meta={"owner": f"{self.d.stem.name}-analytics", "grain": e.key_column},
        )

    def int_base_columns(self) -> list[Column]:
        model = next(m for m in self.d.models if m.name == self.int_base)
        return [Column(c.name, c.data_type, c.description, [], c.pii) for c in model.columns]

    def daily_mart(self) -> Model:
        e = self.anchor
        m = e.measure
        who = "account_id" if self.d.stem.anchor == "order" else "product_id"
        distinct = f"distinct_{who.removesuffix('_id')}s"
        ctes = [
            (
                "daily",
                f"select * from {{{{ ref('{self.int_daily}') }}}}"
                "\n{% if is_incremental() %}\nwhere activity_date >= (select max(activity_date) - interval 3 day"
                " from {{ this }})\n{% endif %}",
            )
        ]
        items = [
            "daily.activity_date",
            f"daily.{e.name.table}_count",
            f"daily.{distinct}",
            f"daily.total_{m.name}",
        ]
        cols = [
            Column("activity_date", "date", "Day of activity, UTC.", ["unique", "not_null"]),
            Column(f"{e.name.table}_count", "integer", f"{e.name.label.capitalize()}s that day."),
            Column(distinct, "integer", f"Distinct {who.removesuffix('_id')}s that day."),
            Column(f"total_{m.name}", m.data_type, f"Sum of {m.name} that day."),
        ]
        joins = ""
        if self.d.stem.anchor == "order":
            ctes.append(
                (
                    "revenue",
                    "select order_date, sum(net_revenue_usd) as net_revenue_usd\n"
                    "from {{ ref('fct_daily_revenue') }}\ngroup by 1",
                )
            )
            items += [
                "revenue.net_revenue_usd as shop_net_revenue_usd",
                f"daily.{e.name.table}_count / nullif(revenue.net_revenue_usd, 0) * 1000"
                f" as {e.name.table}_per_1k_revenue",
            ]
            cols += [
                Column(
                    "shop_net_revenue_usd",
                    "decimal(18,2)",
                    "Net revenue of the whole shop that day.",
                ),
                Column(
                    f"{e.name.table}_per_1k_revenue",
                    "double",
                    f"{e.name.label.capitalize()}s per thousand dollars of shop revenue.",
                ),
            ]
            joins = "\nleft join revenue\n    on daily.activity_date = revenue.order_date"
        final = f"select\n{select_list(items)}\nfrom daily{joins}"
        config = config_block(materialized="incremental", unique_key="activity_date")
        return Model(
            self.daily_summary,
            f"marts/{self.d.name}",
            config + with_ctes(ctes, final),
            f"Daily KPIs for {self.d.stem.purpose} in {self.d.title}; reprocesses the last three days.",
            cols,
            tags=self.domain_tags("daily"),
        )

    def anchor_summary(self) -> Model:
        e = self.anchor
        m = e.measure
        if self.d.stem.anchor == "order":
            name = f"{self.d.name}__account_summary"
            dim = (
                "accounts",
                "select account_id, country_code, customer_segment\nfrom {{ ref('dim_accounts') }}",
            )
            key, extra = (
                "account_id",
                [
                    ("country_code", "varchar", "Country of the account."),
                    ("customer_segment", "varchar", "prospect, new or returning."),
                ],
            )
        else:
            name = f"{self.d.name}__product_summary"
            dim = (
                "products",
                "select product_id, department_name, is_active\nfrom {{ ref('dim_products') }}",
            )
            key, extra = (
                "product_id",
                [
                    ("department_name", "varchar", "Department of the product."),
                    ("is_active", "boolean", "False once the product is delisted."),
                ],
            )
        facts = (
            f"select\n    {key},\n    count(*) as {e.name.table}_count,\n    sum({m.name}) as total_{m.name},\n"
            f"    min(created_at) as first_{e.name.key}_at,\n    max(created_at) as last_{e.name.key}_at\n"
            f"from {{{{ ref('{self.fct}') }}}}\ngroup by 1"
        )
        alias = dim[0]
        items = (
            [f"facts.{key}"]
            + [f"{alias}.{c}" for c, _, _ in extra]
            + [
                f"facts.{e.name.table}_count",
                f"facts.total_{m.name}",
                f"facts.first_{e.name.key}_at",
                f"facts.last_{e.name.key}_at",
            ]
        )
        final = f"select\n{select_list(items)}\nfrom facts\nleft join {alias}\n    on facts.{key} = {alias}.{key}"
        cols = [Column(key, "bigint", f"The {key.removesuffix('_id')}.", ["unique", "not_null"])]
        cols += [Column(c, t, d) for c, t, d in extra]
        cols += [
            Column(f"{e.name.table}_count", "integer", f"{e.name.label.capitalize()}s in total."),
            Column(f"total_{m.name}", m.data_type, f"Sum of {m.name}."),
            Column(f"first_{e.name.key}_at", "timestamp", f"First {e.name.label}."),
            Column(f"last_{e.name.key}_at", "timestamp", f"Most recent {e.name.label}."),
        ]
        materialized = self.rng.choice(["table", "table", "view"])
        return Model(
            name,
            f"marts/{self.d.name}",
            config_block(materialized=materialized) + with_ctes([("facts", facts), dim], final),
            f"{self.d.stem.purpose.capitalize()} per {key.removesuffix('_id')} in {self.d.title}.",
            cols,
            tags=self.domain_tags(),
        )

    def channel_mix(self) -> Model:
        e = self.anchor
        m = e.measure
        group = "sales_channel" if self.d.stem.anchor == "order" else "department_name"
        body = (
            f"select\n    {group},\n    date_trunc('month', created_at) as activity_month,\n"
            f"    count(*) as {e.name.table}_count,\n    sum({m.name}) as total_{m.name}\n"
            f"from {{{{ ref('{self.fct}') }}}}\ngroup by 1, 2\n"
        )
        cols = [
            Column(group, "varchar", "Grouping dimension.", ["not_null"]),
            Column("activity_month", "date", "First day of the month.", ["not_null"]),
            Column(
                f"{e.name.table}_count", "integer", f"{e.name.label.capitalize()}s in the month."
            ),
            Column(f"total_{m.name}", m.data_type, f"Sum of {m.name} in the month."),
        ]
        return Model(
            f"{self.d.name}__{group.removesuffix('_name')}_mix",
            f"marts/{self.d.name}",
            body,
            f"Monthly {self.d.stem.purpose} split by {group.replace('_', ' ')}.",
            cols,
            tags=self.domain_tags(),
        )

    def cross_partner(self) -> Domain | None:
        candidates = [
            d
            for d in self.earlier
            if d.stem.anchor == self.d.stem.anchor
            and d.stem is not self.d.stem
            and any(m.name == f"fct_{d.name}__{d.entities[0].name.table}" for m in d.models)
        ]
        return self.rng.choice(candidates) if candidates else None

    def cross_domain(self, other: Domain) -> Model:
        key = "account_id" if self.d.stem.anchor == "order" else "product_id"
        mine, theirs = self.anchor, other.entities[0]
        other_fct = f"fct_{other.name}__{theirs.name.table}"
        ctes = [
            (
                "mine",
                f"select {key}, count(*) as {mine.name.table}_count\n"
                f"from {{{{ ref('{self.fct}') }}}}\ngroup by 1",
            ),
            (
                "theirs",
                f"select {key}, count(*) as {theirs.name.table}_count\n"
                f"from {{{{ ref('{other_fct}') }}}}\ngroup by 1",
            ),
        ]
        final = (
            f"select\n    coalesce(mine.{key}, theirs.{key}) as {key},\n"
            f"    coalesce(mine.{mine.name.table}_count, 0) as {mine.name.table}_count,\n"
            f"    coalesce(theirs.{theirs.name.table}_count, 0) as {theirs.name.table}_count,\n"
            f"    mine.{key} is not null and theirs.{key} is not null as is_in_both\n"
            f"from mine\nfull outer join theirs\n    on mine.{key} = theirs.{key}"
        )
        cols = [
            Column(key, "bigint", f"The {key.removesuffix('_id')}.", ["unique", "not_null"]),
            Column(
                f"{mine.name.table}_count",
                "integer",
                f"{mine.name.label.capitalize()}s in {self.d.title}.",
            ),
            Column(
                f"{theirs.name.table}_count",
                "integer",
                f"{theirs.name.label.capitalize()}s in {other.title}.",
            ),
            Column("is_in_both", "boolean", "Present in both domains."),
        ]
        return Model(
            f"{self.d.name}__x_{other.name}",
            f"marts/{self.d.name}",
            with_ctes(ctes, final),
            f"Overlap between {self.d.stem.purpose} ({self.d.title}) and {other.stem.purpose} "
            f"({other.title}), per {key.removesuffix('_id')}.",
            cols,
            tags=sorted(set(self.domain_tags()) | {"cross_domain"}),
        )

    def weekly_report(self) -> Model:
        e = self.anchor
        m = e.measure
        body = (
            f"select\n    date_trunc('week', activity_date) as activity_week,\n"
            f"    sum({e.name.table}_count) as {e.name.table}_count,\n    sum(total_{m.name}) as total_{m.name},\n"
            f"    avg({e.name.table}_count) as avg_daily_{e.name.table}\n"
            f"from {{{{ ref('{self.daily_summary}') }}}}\ngroup by 1\n"
        )
        cols = [
            Column("activity_week", "date", "Monday of the week.", ["unique", "not_null"]),
            Column(
                f"{e.name.table}_count", "integer", f"{e.name.label.capitalize()}s in the week."
            ),
            Column(f"total_{m.name}", m.data_type, f"Sum of {m.name} in the week."),
            Column(f"avg_daily_{e.name.table}", "double", f"Average {e.name.label}s per day."),
        ]
        return Model(
            f"rpt_{self.d.name}__weekly_kpis",
            f"marts/{self.d.name}",
            config_block(materialized="view") + body,
            f"Weekly roll-up of the {self.d.stem.purpose} KPIs for the {self.d.title} team.",
            cols,
            tags=self.domain_tags(),
        )

    def make_exposure(self) -> dict[str, object]:
        names = {m.name for m in self.d.models}
        deps = [
            n
            for n in (
                self.daily_summary,
                f"rpt_{self.d.name}__weekly_kpis",
                f"{self.d.name}__account_summary",
                f"{self.d.name}__product_summary",
            )
            if n in names
        ]
        return {
            "name": f"{self.d.name}_dashboard",
            "label": f"{self.d.title} dashboard",
            "type": "dashboard",
            "maturity": self.rng.choice(["low", "medium", "high"]),
            "url": f"https://bi.shop.example/dashboards/{self.d.name.replace('_', '-')}",
            "description": f"Daily view of {self.d.stem.purpose} for the {self.d.title} team.",
            "depends_on": [f"ref('{n}')" for n in deps],
            "owner": {
                "name": f"{self.d.title} analytics",
                "email": f"{self.d.name.replace('_', '-')}@shop.example",
            },
        }

    def make_singular_test(self) -> tuple[str, str]:
        e = self.anchor
        name = f"assert_{self.d.name}__daily_matches_fact"
        sql = (
            f"-- The daily summary must count every {e.name.label} of the fact table exactly once.\n"
            + with_ctes(
                [
                    ("from_fact", f"select count(*) as n from {{{{ ref('{self.fct}') }}}}"),
                    (
                        "from_daily",
                        f"select sum({e.name.table}_count) as n from {{{{ ref('{self.daily_summary}') }}}}",
                    ),
                ],
                "select from_fact.n as fact_rows, from_daily.n as daily_rows\nfrom from_fact, from_daily\n"
                "where from_fact.n != from_daily.n",
            )
        )
        return name, sql


# --------------------------------------------------------------------------- YAML


PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_ .,()'/+-]*")
YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if PLAIN.fullmatch(text) and text.lower() not in YAML_WORDS and not text.endswith(" "):
        return text
    return json.dumps(text)


def yaml_lines(value: object, indent: int = 0) -> list[str]:
    """A tiny YAML emitter: block mappings and lists, flow lists of short scalars."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                flow = flow_list(item)
                if flow is not None:
                    lines.append(f"{pad}{key}: {flow}")
                else:
                    lines.append(f"{pad}{key}:")
                    lines += yaml_lines(item, indent + 2)
            else:
                lines.append(
                    f"{pad}{key}: {scalar(item) if not isinstance(item, dict | list) else '{}'}"
                )
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                sub = yaml_lines(item, indent + 2)
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines += sub[1:]
            else:
                lines.append(f"{pad}- {scalar(item)}")
    return lines


def flow_list(value: object) -> str | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        rendered = "[" + ", ".join(scalar(v) for v in value) + "]"
        if len(rendered) <= 80:
            return rendered
    return None


def column_yaml(col: Column) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": col.name,
        "description": col.description,
        "data_type": col.data_type,
    }
    if col.pii:
        entry["config"] = {"meta": {"contains_pii": True}}
    if col.tests:
        entry["data_tests"] = col.tests
    return entry


def models_yaml(models: list[Model]) -> str:
    entries = []
    for m in models:
        entry: dict[str, object] = {"name": m.name, "description": m.description}
        config: dict[str, object] = {}
        if m.tags:
            config["tags"] = m.tags
        if m.meta:
            config["meta"] = m.meta
        if config:
            entry["config"] = config
        entry["columns"] = [column_yaml(c) for c in m.columns]
        entries.append("\n".join(yaml_lines([entry], indent=2)))
    return "models:\n" + "\n\n".join(entries) + "\n"


def sources_yaml(domain: Domain, emitted: set[str]) -> str:
    tables = []
    for e in domain.entities:
        if domain.staging_name(e) not in emitted:
            continue
        cols: list[dict[str, object]] = [
            {
                "name": "id",
                "description": f"Primary key of the {e.name.label}.",
                "data_type": "bigint",
                "data_tests": ["unique", "not_null"],
            }
        ]
        cols += [
            {"name": c.name, "description": c.description, "data_type": c.data_type}
            for c in e.link_columns
        ]
        cols.append(
            {
                "name": "status",
                "description": "Status as written by the source system.",
                "data_type": "varchar",
            }
        )
        cols += [
            {
                "name": a.raw,
                "description": a.doc.format(label=e.name.label),
                "data_type": a.raw_type,
            }
            for a in e.attributes
        ]
        cols += [
            {"name": "created_at", "description": "Creation time, UTC.", "data_type": "timestamp"},
            {"name": "updated_at", "description": "Last change, UTC.", "data_type": "timestamp"},
        ]
        tables.append(
            {
                "name": e.name.table,
                "description": f"Raw {e.name.label}s as loaded from the {domain.title} system.",
                "columns": cols,
            }
        )
    source = {
        "name": domain.name,
        "description": f"Raw tables for {domain.stem.purpose} ({domain.title}), landed by the ingestion job.",
        "schema": domain.source_schema,
        "config": {
            "loaded_at_field": "_loaded_at",
            "freshness": {"warn_after": {"count": 24, "period": "hour"}},
        },
        "tables": tables,
    }
    return "\n".join(yaml_lines({"sources": [source]})) + "\n"


# --------------------------------------------------------------------------- project


def count_models(project: Path) -> int:
    return sum(1 for _ in (project / "models").rglob("*.sql"))


def plan_domains(extra_models: int, seed: int, extra_attributes: int) -> list[Domain]:
    """Domains in order; the last one is cut short so the model total is exact."""
    rng = random.Random(seed)
    domains: list[Domain] = []
    remaining = extra_models
    names = domain_names()
    while remaining > 0:
        name, stem = next(names)
        domain = Domain(name, stem, pick_entities(rng, stem, extra_attributes))
        DomainBuilder(domain, rng, domains).build()
        if len(domain.models) > remaining:
            # Models are in dependency order, so any prefix only refs models that exist.
            domain.models = domain.models[:remaining]
            domain.exposure = None
            domain.singular_test = None
        remaining -= len(domain.models)
        domains.append(domain)
    return domains


def write_domain(out: Path, domain: Domain) -> None:
    """Write one domain's SQL files, yml files and singular test."""
    emitted = {m.name for m in domain.models}
    by_folder: dict[str, list[Model]] = {}
    for model in domain.models:
        by_folder.setdefault(model.folder, []).append(model)
    models_dir = out / "models"
    for folder, models in by_folder.items():
        target = models_dir / folder
        target.mkdir(parents=True, exist_ok=True)
        for model in models:
            (target / f"{model.name}.sql").write_text(model.sql, encoding="utf-8")
        yml = models_yaml(models)
        if folder.startswith("marts/") and domain.exposure is not None:
            yml += "\n" + "\n".join(yaml_lines({"exposures": [domain.exposure]})) + "\n"
        (target / f"_{domain.name}__models.yml").write_text(yml, encoding="utf-8")
    staging = models_dir / "staging" / domain.name
    if staging.is_dir():
        (staging / f"_{domain.name}__sources.yml").write_text(
            sources_yaml(domain, emitted), encoding="utf-8"
        )
    if domain.singular_test is not None:
        name, sql = domain.singular_test
        (out / "tests" / f"{name}.sql").write_text(sql, encoding="utf-8")


def generated_note(models: int, seed: int, extra_columns: int, domains: list[Domain]) -> str:
    return (
        "# Generated project\n\n"
        "Do not edit: this directory is the output of\n\n"
        f"    python3 scripts/gen_example.py OUT_DIR --models {models} --seed {seed}"
        f"{f' --extra-columns {extra_columns}' if extra_columns else ''}\n\n"
        f"It is examples/shop plus {len(domains)} generated domains "
        f"({sum(len(d.models) for d in domains)} generated models).\n"
    )


def generate(
    out: Path,
    models: int,
    seed: int = DEFAULT_SEED,
    extra_columns: int = 0,
    base: Path = BASE_PROJECT,
) -> list[Domain]:
    """Copy `base` to `out` and add domains until the project has exactly `models` models."""
    base_models = count_models(base)
    if models < base_models:
        raise ValueError(f"--models must be at least {base_models} (the base project's own models)")
    shutil.copytree(base, out, ignore=shutil.ignore_patterns(*IGNORED_IN_BASE))
    (out / "tests").mkdir(exist_ok=True)
    domains = plan_domains(models - base_models, seed, extra_columns)
    for domain in domains:
        write_domain(out, domain)
    (out / "GENERATED.md").write_text(
        generated_note(models, seed, extra_columns, domains), encoding="utf-8"
    )
    return domains


def ref_graph(project: Path) -> dict[str, set[str]]:
    """Model -> models it refs, read from the SQL with a regex (no dbt needed)."""
    graph: dict[str, set[str]] = {}
    for path in (project / "models").rglob("*.sql"):
        text = path.read_text(encoding="utf-8")
        graph[path.stem] = set(re.findall(r"ref\(\s*['\"]([^'\"]+)['\"]\s*\)", text))
    return graph


def lineage(graph: dict[str, set[str]], focal: str) -> tuple[set[str], set[str]]:
    """Ancestors and descendants of `focal` among models and seeds (dbt's `+focal+`)."""
    children: dict[str, set[str]] = {}
    for child, parents in graph.items():
        for parent in parents:
            children.setdefault(parent, set()).add(child)

    def closure(start: str, edges: dict[str, set[str]]) -> set[str]:
        seen: set[str] = set()
        stack = [start]
        while stack:
            for nxt in edges.get(stack.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    return closure(focal, graph), closure(focal, children)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Scale examples/shop to N models for lineage and benchmark scenarios.",
    )
    parser.add_argument(
        "out_dir", type=Path, help="directory to create (must not exist, or use --force)"
    )
    parser.add_argument(
        "--models",
        type=int,
        default=DEFAULT_MODELS,
        help=f"total number of models in the output (default {DEFAULT_MODELS})",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="random seed (default %(default)s)"
    )
    parser.add_argument(
        "--extra-columns",
        type=int,
        default=0,
        help="extra columns per raw table, to grow the manifest (default 0)",
    )
    parser.add_argument("--force", action="store_true", help="replace out_dir if it exists")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out_dir.resolve()
    if args.extra_columns < 0 or args.extra_columns > len(ATTRIBUTES):
        print(f"gen_example: error: --extra-columns must be 0..{len(ATTRIBUTES)}", file=sys.stderr)
        return 2
    if (
        out in (REPO_ROOT, BASE_PROJECT)
        or out in BASE_PROJECT.parents
        or BASE_PROJECT in out.parents
    ):
        print(
            f"gen_example: error: refusing to write into {out}. Fix: pick a scratch directory.",
            file=sys.stderr,
        )
        return 2
    if out.exists() and any(out.iterdir()):
        if not args.force:
            print(
                f"gen_example: error: {out} exists and is not empty. Fix: pass --force or pick "
                "another directory.",
                file=sys.stderr,
            )
            return 2
        shutil.rmtree(out)
    elif out.exists():
        out.rmdir()
    try:
        domains = generate(out, args.models, args.seed, args.extra_columns)
    except ValueError as exc:
        print(f"gen_example: error: {exc}", file=sys.stderr)
        return 2
    up, down = lineage(ref_graph(out), FOCAL_MODEL)
    print(
        f"wrote {out}: {count_models(out)} models ({len(domains)} generated domains); "
        f"+{FOCAL_MODEL}+ has {len(up)} upstream and {len(down)} downstream models/seeds"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
