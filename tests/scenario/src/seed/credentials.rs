//! The builder's helpers for credential types and their fields and options, credentials and
//! their values, credential prototypes and the assignment of credentials to runtemplates.

use housekeeper_journal::Value;

use super::{deterministic_uuid, Row, RowRef, Seed, DAY};

impl Seed {
    /// A credential type of `company` bound to `prototype` (`FioBank`, `Common`, …).
    pub fn credential_type(&mut self, company: i64, name: &str, prototype: &str) -> RowRef<'_> {
        let id = self.take_id("credential_type");
        self.push(Row::new(
            "credential_type",
            vec![
                ("id", Value::Int(id)),
                ("name", name.into()),
                ("url", "".into()),
                ("logo", "".into()),
                ("uuid", deterministic_uuid(0xc7, id).into()),
                ("prototype", prototype.into()),
                ("company_id", Value::Int(company)),
                ("version", "1".into()),
            ],
        ))
    }

    /// A per-type setting (`credtypedata`), e.g. `FIO_TOKEN`.
    pub fn credential_type_option(
        &mut self,
        credential_type: i64,
        name: &str,
        value: &str,
    ) -> RowRef<'_> {
        let id = self.take_id("credtypedata");
        self.push(Row::new(
            "credtypedata",
            vec![
                ("id", Value::Int(id)),
                ("credential_type_id", Value::Int(credential_type)),
                ("name", name.into()),
                ("value", value.into()),
                ("type", "string".into()),
            ],
        ))
    }

    /// A field definition of a credential type (`crtypefield`).
    pub fn credential_type_field(
        &mut self,
        credential_type: i64,
        keyname: &str,
        required: bool,
        default: Option<&str>,
    ) -> RowRef<'_> {
        let id = self.take_id("crtypefield");
        self.push(Row::new(
            "crtypefield",
            vec![
                ("id", Value::Int(id)),
                ("credential_type_id", Value::Int(credential_type)),
                ("keyname", keyname.into()),
                ("type", "string".into()),
                ("description", format!("{keyname} of the service").into()),
                ("hint", "".into()),
                ("defval", default.map_or(Value::Null, Value::from)),
                ("required", Value::Bool(required)),
                ("helper", Value::Null),
            ],
        ))
    }

    /// A credential of `credential_type` (same company, `formType` = the type's prototype).
    pub fn credential(&mut self, credential_type: i64, name: &str) -> RowRef<'_> {
        let (company, prototype) = match self.find("credential_type", credential_type) {
            Some(ct) => (
                ct.get("company_id").cloned().unwrap_or(Value::Null),
                ct.get("prototype").cloned().unwrap_or(Value::Null),
            ),
            None => (Value::Null, Value::Null),
        };
        let id = self.take_id("credentials");
        self.push(Row::new(
            "credentials",
            vec![
                ("id", Value::Int(id)),
                ("name", name.into()),
                ("company_id", company),
                ("formType", prototype),
                ("credential_type_id", Value::Int(credential_type)),
            ],
        ))
    }

    /// A value of a credential's field (`credata`).
    pub fn credential_value(&mut self, credential: i64, name: &str, value: &str) -> RowRef<'_> {
        let id = self.take_id("credata");
        self.push(Row::new(
            "credata",
            vec![
                ("id", Value::Int(id)),
                ("credential_id", Value::Int(credential)),
                ("name", name.into()),
                ("value", value.into()),
                ("type", "string".into()),
            ],
        ))
    }

    /// A prototype defined in the database (`credential_prototype`), looked up by `code`.
    pub fn credential_prototype(&mut self, code: &str, name: &str) -> RowRef<'_> {
        let id = self.take_id("credential_prototype");
        let created = self.at(-100 * DAY);
        self.push(Row::new(
            "credential_prototype",
            vec![
                ("id", Value::Int(id)),
                ("uuid", deterministic_uuid(0xd0, id).into()),
                ("code", code.into()),
                ("name", name.into()),
                (
                    "description",
                    format!("{name} (imported definition)").into(),
                ),
                ("version", "1.0".into()),
                ("url", Value::Null),
                ("logo", Value::Null),
                ("created_at", created.into()),
                ("updated_at", created.into()),
                ("homepage", Value::Null),
                ("tags", Value::Null),
            ],
        ))
    }

    /// A field of a database-defined prototype.
    pub fn credential_prototype_field(
        &mut self,
        prototype: i64,
        keyword: &str,
        required: bool,
        default: Option<&str>,
    ) -> RowRef<'_> {
        let id = self.take_id("credential_prototype_field");
        self.push(Row::new(
            "credential_prototype_field",
            vec![
                ("id", Value::Int(id)),
                ("credential_prototype_id", Value::Int(prototype)),
                ("keyword", keyword.into()),
                ("type", "string".into()),
                ("name", keyword.into()),
                ("description", Value::Null),
                ("hint", Value::Null),
                ("default_value", default.map_or(Value::Null, Value::from)),
                ("required", Value::Bool(required)),
                ("options", Value::Null),
            ],
        ))
    }

    /// Assigns `credential` to `runtemplate` (`runtplcreds`).
    pub fn assign_credential(&mut self, runtemplate: i64, credential: i64) -> RowRef<'_> {
        let id = self.take_id("runtplcreds");
        self.push(Row::new(
            "runtplcreds",
            vec![
                ("id", Value::Int(id)),
                ("runtemplate_id", Value::Int(runtemplate)),
                ("credentials_id", Value::Int(credential)),
            ],
        ))
    }
}
