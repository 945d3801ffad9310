//! CredentialHealthCheck: read-only. Every credential assigned (`runtplcreds`) to
//! an active runtemplate with `interv <> 'n'` is checked once and reported with all its
//! runtemplates:
//! - `Misconfigured` when a field its type marks required (`crtypefield.required`, or
//!   `credential_prototype_field.required` of the prototype whose `code` is
//!   `credential_type.prototype`) has neither a non-empty value (`credata`) nor a non-empty
//!   default; and for prototype `FioBank` when the type's `FIO_TOKEN` (`credtypedata`) is empty;
//! - for `FioBank` with a token: `Available` when a TCP connection to the host and port of
//!   `MULTIFLEXI_HOUSEKEEPER_FIO_URL` opens within 5 s, else `Unavailable`;
//! - otherwise `Unknown` (not counted).
//!
//! Misconfigured and Unavailable are findings (error and warning level); they do not fail the
//! duty. The plan has no items: nothing is ever changed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use housekeeper_journal::{DateTimeValue, Value};

use super::common::{self, Need};
use super::{Duty, DutyContext, DutyName};
use crate::config::Endpoint;
use crate::db::{DbResult, ReadView, SchemaFacts};
use crate::plan::{DutyPlan, Finding};

pub struct CredentialHealthCheck;

pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

const NEEDS: &[Need] = &[
    Need {
        table: "runtplcreds",
        column: Some("credentials_id"),
        since: "migration 20241201033209",
    },
    Need {
        table: "credentials",
        column: Some("credential_type_id"),
        since: "migration 20250211165705",
    },
    Need {
        table: "credential_type",
        column: Some("prototype"),
        since: "migration 20260331102211",
    },
    Need {
        table: "credtypedata",
        column: Some("value"),
        since: "migration 20250323093542",
    },
    Need {
        table: "runtemplate",
        column: Some("active"),
        since: "migration 20250210124736",
    },
];

/// One credential and what its type requires.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Credential {
    pub id: i64,
    pub name: String,
    pub prototype: String,
    pub runtemplates: BTreeSet<i64>,
    /// Required fields: name → default value (possibly empty).
    pub required: BTreeMap<String, String>,
    /// The credential's own values (`credata`), by field name.
    pub values: BTreeMap<String, String>,
    /// The type's `FIO_TOKEN` (`credtypedata`), empty when unset.
    pub fio_token: String,
}

/// The verdict before any network probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assessment {
    Misconfigured(String),
    /// FioBank with a token: reachable or not decides.
    NeedsProbe,
    Unknown,
}

/// The static part of the check: required fields, the FioBank token.
#[must_use]
pub fn assess(credential: &Credential) -> Assessment {
    let missing: Vec<&str> = credential
        .required
        .iter()
        .filter(|(field, default)| {
            credential
                .values
                .get(*field)
                .is_none_or(|v| v.trim().is_empty())
                && default.trim().is_empty()
        })
        .map(|(field, _)| field.as_str())
        .collect();
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!(
            "required field(s) without a value: {}",
            missing.join(", ")
        ));
    }
    let fio = credential.prototype == "FioBank";
    if fio && credential.fio_token.trim().is_empty() {
        problems.push("Fio API token is not set".into());
    }
    if !problems.is_empty() {
        Assessment::Misconfigured(problems.join("; "))
    } else if fio {
        Assessment::NeedsProbe
    } else {
        Assessment::Unknown
    }
}

/// Whether a TCP connection to the endpoint opens within the timeout.
///
/// # Errors
/// Why it did not (unresolvable, refused, timed out).
pub fn probe(endpoint: &Endpoint) -> Result<(), String> {
    let addrs: Vec<_> = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", endpoint.host))?
        .collect();
    let mut last = format!("no address for {}", endpoint.host);
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("{}:{}: {e}", endpoint.host, endpoint.port),
        }
    }
    Err(last)
}

fn runtemplate_list(ids: &BTreeSet<i64>) -> String {
    let list: Vec<String> = ids.iter().map(|id| format!("#{id}")).collect();
    format!(
        "runtemplate{} {}",
        if ids.len() == 1 { "" } else { "s" },
        list.join(", ")
    )
}

/// The plan (findings only). `probe_result` is the one probe of the FioBank endpoint, made
/// only when some credential needs it.
#[must_use]
pub fn decide(
    credentials: &[Credential],
    probe_result: &dyn Fn() -> Result<(), String>,
    now: DateTimeValue,
) -> DutyPlan {
    let mut plan = DutyPlan::new(DutyName::CredentialHealthCheck, now);
    let mut probed: Option<Result<(), String>> = None;
    for c in credentials {
        let who = format!(
            "credential \"{}\" (#{}) for {}",
            c.name,
            c.id,
            runtemplate_list(&c.runtemplates)
        );
        match assess(c) {
            Assessment::Misconfigured(why) => {
                plan.findings.push(Finding::new(
                    "error",
                    "misconfigured",
                    format!("{who} is MISCONFIGURED: {why}"),
                ));
            }
            Assessment::NeedsProbe => match probed.get_or_insert_with(probe_result) {
                Ok(()) => plan.notes.push(format!("{who} is available")),
                Err(why) => plan.findings.push(Finding::new(
                    "warning",
                    "unavailable",
                    format!("{who} is temporarily UNAVAILABLE: Fio API host unreachable: {why}"),
                )),
            },
            Assessment::Unknown => {}
        }
    }
    plan
}

impl Duty for CredentialHealthCheck {
    fn name(&self) -> DutyName {
        DutyName::CredentialHealthCheck
    }

    fn check_schema(&self, schema: &SchemaFacts) -> Result<(), String> {
        common::require(schema, NEEDS)
    }

    fn plan(&self, view: &mut dyn ReadView, ctx: &DutyContext<'_>) -> DutyPlan {
        match gather(view, ctx.schema) {
            Ok(credentials) => {
                let endpoint = ctx.config.fio.clone();
                decide(&credentials, &move || probe(&endpoint), ctx.now)
            }
            Err(e) => DutyPlan::failed(self.name(), ctx.now, format!("reading credentials: {e}")),
        }
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Text(s) | Value::Json(s) | Value::Decimal(s) => s.clone(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.to_string(),
    }
}

/// Credentials of scheduled runtemplates with everything `assess` needs.
///
/// # Errors
/// A query failed.
pub fn gather(view: &mut dyn ReadView, schema: &SchemaFacts) -> DbResult<Vec<Credential>> {
    let mut by_id = scheduled_assignments(view)?;
    if by_id.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Value> = by_id.keys().map(|k| Value::Int(*k)).collect();
    let type_of = names_and_types(view, schema, &ids, &mut by_id)?;
    let type_ids: BTreeSet<i64> = type_of.values().copied().collect();
    let (required_by_type, token_by_type) = type_requirements(view, schema, &type_ids)?;
    let required_by_prototype = prototype_requirements(view, schema)?;
    own_values(view, schema, &ids, &mut by_id)?;
    for c in by_id.values_mut() {
        if let Some(type_id) = type_of.get(&c.id) {
            if let Some(required) = required_by_type.get(type_id) {
                c.required.extend(required.clone());
            }
            c.fio_token = token_by_type.get(type_id).cloned().unwrap_or_default();
        }
        if let Some(required) = required_by_prototype.get(&c.prototype) {
            for (field, default) in required {
                c.required
                    .entry(field.clone())
                    .or_insert_with(|| default.clone());
            }
        }
    }
    Ok(by_id.into_values().collect())
}

/// The credentials assigned to scheduled runtemplates (active, `interv <> 'n'`), by id, with
/// those runtemplates.
fn scheduled_assignments(view: &mut dyn ReadView) -> DbResult<BTreeMap<i64, Credential>> {
    let d = *view.dialect();
    let q = |s: &str| d.quote(s);
    let sql = format!(
        "SELECT rc.{rt}, rc.{cred}, r.{active}, r.{interv} FROM {rtc} rc JOIN {runtemplate} r ON r.{id} = rc.{rt} ORDER BY rc.{cred}, rc.{rt}",
        rt = q("runtemplate_id"),
        cred = q("credentials_id"),
        active = q("active"),
        interv = q("interv"),
        rtc = q("runtplcreds"),
        runtemplate = q("runtemplate"),
        id = q("id"),
    );
    let mut by_id: BTreeMap<i64, Credential> = BTreeMap::new();
    for r in view.query(&sql, &[])?.rows {
        let scheduled = r[2].as_bool() == Some(true) && r[3].as_str().is_some_and(|i| i != "n");
        if scheduled {
            let id = common::int(&r[1]);
            by_id
                .entry(id)
                .or_insert_with(|| Credential {
                    id,
                    ..Credential::default()
                })
                .runtemplates
                .insert(common::int(&r[0]));
        }
    }
    Ok(by_id)
}

/// The credentials' names (else their company's name, else `#id`) and prototypes; returns
/// each credential's type.
fn names_and_types(
    view: &mut dyn ReadView,
    schema: &SchemaFacts,
    ids: &[Value],
    by_id: &mut BTreeMap<i64, Credential>,
) -> DbResult<BTreeMap<i64, i64>> {
    let d = *view.dialect();
    let q = |s: &str| d.quote(s);
    let (in_creds, params) = d.in_keys("id", ids);
    let has_company_name = schema.has_column("company", "name");
    let sql = format!(
        "SELECT c.{id}, c.{name}, c.{type_id}, t.{prototype}, {company} FROM {credentials} c \
         LEFT JOIN {types} t ON t.{id} = c.{type_id} {join} WHERE c.{in_creds}",
        id = q("id"),
        name = q("name"),
        type_id = q("credential_type_id"),
        prototype = q("prototype"),
        company = if has_company_name {
            format!("co.{}", q("name"))
        } else {
            "NULL".into()
        },
        credentials = q("credentials"),
        types = q("credential_type"),
        join = if has_company_name {
            format!(
                "LEFT JOIN {} co ON co.{} = c.{}",
                q("company"),
                q("id"),
                q("company_id")
            )
        } else {
            String::new()
        },
    );
    let mut type_of: BTreeMap<i64, i64> = BTreeMap::new();
    for r in view.query(&sql, &params)?.rows {
        let id = common::int(&r[0]);
        if let Some(c) = by_id.get_mut(&id) {
            let name = text(&r[1]);
            c.name = if name.is_empty() { text(&r[4]) } else { name };
            if c.name.is_empty() {
                c.name = format!("#{id}");
            }
            c.prototype = text(&r[3]);
            if !r[2].is_null() {
                type_of.insert(id, common::int(&r[2]));
            }
        }
    }
    Ok(type_of)
}

/// Per credential type: its required fields with their defaults, and its `FIO_TOKEN`.
type TypeRequirements = (
    BTreeMap<i64, BTreeMap<String, String>>,
    BTreeMap<i64, String>,
);

/// The required fields (a type's own, `crtypefield`) and the `FIO_TOKEN` of the types.
fn type_requirements(
    view: &mut dyn ReadView,
    schema: &SchemaFacts,
    type_ids: &BTreeSet<i64>,
) -> DbResult<TypeRequirements> {
    let d = *view.dialect();
    let q = |s: &str| d.quote(s);
    let mut required_by_type: BTreeMap<i64, BTreeMap<String, String>> = BTreeMap::new();
    let mut token_by_type: BTreeMap<i64, String> = BTreeMap::new();
    if !type_ids.is_empty() {
        let type_values: Vec<Value> = type_ids.iter().map(|t| Value::Int(*t)).collect();
        if schema.has_column("crtypefield", "required") {
            let (cond, params) = d.in_keys("credential_type_id", &type_values);
            let sql = format!(
                "SELECT {}, {}, {}, {} FROM {} WHERE {cond}",
                q("credential_type_id"),
                q("keyname"),
                q("defval"),
                q("required"),
                q("crtypefield")
            );
            for r in view.query(&sql, &params)?.rows {
                if r[3].as_bool() == Some(true) && !text(&r[1]).is_empty() {
                    required_by_type
                        .entry(common::int(&r[0]))
                        .or_default()
                        .insert(text(&r[1]), text(&r[2]));
                }
            }
        }
        let (cond, params) = d.in_keys("credential_type_id", &type_values);
        let sql = format!(
            "SELECT {}, {} FROM {} WHERE {cond} AND {} = ?",
            q("credential_type_id"),
            q("value"),
            q("credtypedata"),
            q("name")
        );
        let mut params = params;
        params.push(Value::from("FIO_TOKEN"));
        for r in view.query(&sql, &params)?.rows {
            token_by_type.insert(common::int(&r[0]), text(&r[1]));
        }
    }
    Ok((required_by_type, token_by_type))
}

/// Required fields of database-defined prototypes, by code, with their defaults.
fn prototype_requirements(
    view: &mut dyn ReadView,
    schema: &SchemaFacts,
) -> DbResult<BTreeMap<String, BTreeMap<String, String>>> {
    let d = *view.dialect();
    let q = |s: &str| d.quote(s);
    let mut required_by_prototype: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    if schema.has_column("credential_prototype_field", "required")
        && schema.has_column("credential_prototype", "code")
    {
        let sql = format!(
            "SELECT p.{code}, f.{keyword}, f.{default}, f.{required} FROM {fields} f JOIN {protos} p ON p.{id} = f.{proto_id}",
            code = q("code"),
            keyword = q("keyword"),
            default = q("default_value"),
            required = q("required"),
            fields = q("credential_prototype_field"),
            protos = q("credential_prototype"),
            id = q("id"),
            proto_id = q("credential_prototype_id"),
        );
        for r in view.query(&sql, &[])?.rows {
            if r[3].as_bool() == Some(true) && !text(&r[1]).is_empty() {
                required_by_prototype
                    .entry(text(&r[0]))
                    .or_default()
                    .insert(text(&r[1]), text(&r[2]));
            }
        }
    }
    Ok(required_by_prototype)
}

/// The credentials' own values (`credata`).
fn own_values(
    view: &mut dyn ReadView,
    schema: &SchemaFacts,
    ids: &[Value],
    by_id: &mut BTreeMap<i64, Credential>,
) -> DbResult<()> {
    let d = *view.dialect();
    let q = |s: &str| d.quote(s);
    if schema.has_column("credata", "credential_id") {
        let (cond, params) = d.in_keys("credential_id", ids);
        let sql = format!(
            "SELECT {}, {}, {} FROM {} WHERE {cond}",
            q("credential_id"),
            q("name"),
            q("value"),
            q("credata")
        );
        for r in view.query(&sql, &params)?.rows {
            if let Some(c) = by_id.get_mut(&common::int(&r[0])) {
                c.values.insert(text(&r[1]), text(&r[2]));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTimeValue {
        DateTimeValue::date(2026, 11, 28)
    }

    fn cred(id: i64, prototype: &str) -> Credential {
        Credential {
            id,
            name: format!("C{id}"),
            prototype: prototype.into(),
            runtemplates: [1].into(),
            ..Credential::default()
        }
    }

    #[test]
    fn fio_without_token_is_misconfigured_without_probing() {
        let plan = decide(&[cred(1, "FioBank")], &|| panic!("no probe needed"), now());
        assert_eq!(plan.findings.len(), 1);
        assert_eq!(plan.findings[0].level, "error");
        assert_eq!(
            plan.findings[0].message,
            "credential \"C1\" (#1) for runtemplate #1 is MISCONFIGURED: Fio API token is not set"
        );
        assert_eq!(plan.affected(), 0, "a finding is not a change");
    }

    #[test]
    fn required_fields_need_a_value_or_default() {
        let mut c = cred(2, "Common");
        c.required = [
            ("A".into(), String::new()),
            ("B".into(), "dflt".into()),
            ("C".into(), String::new()),
        ]
        .into();
        c.values = [("C".into(), "set".into()), ("A".into(), "  ".into())].into();
        assert_eq!(
            assess(&c),
            Assessment::Misconfigured("required field(s) without a value: A".into())
        );
    }

    #[test]
    fn one_probe_serves_every_fio_credential() {
        let mut a = cred(1, "FioBank");
        a.fio_token = "t".into();
        let mut b = cred(2, "FioBank");
        b.fio_token = "t".into();
        b.runtemplates = [1, 4].into();
        let calls = std::cell::Cell::new(0);
        let plan = decide(
            &[a, b, cred(3, "Common")],
            &|| {
                calls.set(calls.get() + 1);
                Err("connection refused".into())
            },
            now(),
        );
        assert_eq!(calls.get(), 1);
        assert_eq!(plan.findings.len(), 2);
        assert!(plan.findings[1]
            .message
            .contains("for runtemplates #1, #4 is temporarily UNAVAILABLE"));
        assert_eq!(plan.affected(), 0, "findings are not changes");
    }
}
