//! Claims: what each scope releases (OIDC Core §5.4), the `claims` request
//! parameter (§5.5), and assembling a citizen's claims.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::store::CitizenProfile;

/// The scope that releases a claim; `None` for claims no scope releases here.
pub fn owning_scope(claim: &str) -> Option<&'static str> {
    Some(match claim {
        "name" | "family_name" | "given_name" | "middle_name" | "nickname" | "preferred_username" | "profile"
        | "picture" | "website" | "gender" | "birthdate" | "zoneinfo" | "locale" | "updated_at" => "profile",
        "email" | "email_verified" => "email",
        "phone_number" | "phone_number_verified" => "phone",
        "address" => "address",
        "national_id" | "national_id_verified" => "national_id",
        _ => return None,
    })
}

/// Claims a scope releases, of those Motcua holds.
pub fn scope_claims(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &["name", "gender", "birthdate", "updated_at"],
        "email" => &["email", "email_verified"],
        "phone" => &["phone_number", "phone_number_verified"],
        "address" => &["address"],
        "national_id" => &["national_id", "national_id_verified"],
        _ => &[],
    }
}

/// One requested claim (§5.5.1): essential flag and requested values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimSpec {
    /// `essential: true`.
    pub essential: bool,
    /// `value` or `values`, when strings.
    pub values: Vec<String>,
}

/// The `claims` request parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    /// Claims requested from the UserInfo endpoint.
    pub userinfo: BTreeMap<String, ClaimSpec>,
    /// Claims requested in the ID token.
    pub id_token: BTreeMap<String, ClaimSpec>,
}

impl ClaimsRequest {
    /// Parse the JSON text; the error is a description for `invalid_request`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || "claims must be a JSON object with userinfo and/or id_token members".to_owned();
        let v: Value = serde_json::from_str(text).map_err(|_| bad())?;
        let obj = v.as_object().ok_or_else(bad)?;
        let member = |name: &str| -> Result<BTreeMap<String, ClaimSpec>, String> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(BTreeMap::new()),
                Some(Value::Object(m)) => {
                    m.iter().map(|(k, spec)| Ok((k.clone(), parse_spec(spec).ok_or_else(bad)?))).collect()
                }
                Some(_) => Err(bad()),
            }
        };
        Ok(Self { userinfo: member("userinfo")?, id_token: member("id_token")? })
    }

    /// Back to JSON text (kept with the grant).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// From what [`ClaimsRequest::to_json`] stored.
    pub fn from_stored(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    /// Scopes owning the individually requested claims (consent must cover them).
    pub fn owning_scopes(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for name in self.userinfo.keys().chain(self.id_token.keys()) {
            if let Some(s) = owning_scope(name)
                && !out.contains(&s)
            {
                out.push(s);
            }
        }
        out
    }

    /// Drop claims the client may not receive: those whose scope the client is
    /// not allowed, and `national_id` unless its scope was requested (it is
    /// released only behind its own scope).
    pub fn restrict(&mut self, client_scopes: &[String], requested: &[String]) {
        let keep = |name: &String| match owning_scope(name) {
            Some("national_id") => requested.iter().any(|s| s == "national_id"),
            Some(scope) => client_scopes.iter().any(|s| s == scope),
            None => matches!(name.as_str(), "acr" | "auth_time" | "sub"),
        };
        self.userinfo.retain(|k, _| keep(k));
        self.id_token.retain(|k, _| keep(k));
    }

    /// Values of an essential `acr` request in the ID token member, if any.
    pub fn essential_acr(&self) -> Option<&Vec<String>> {
        self.id_token.get("acr").filter(|s| s.essential && !s.values.is_empty()).map(|s| &s.values)
    }
}

fn parse_spec(v: &Value) -> Option<ClaimSpec> {
    match v {
        Value::Null => Some(ClaimSpec::default()),
        Value::Object(o) => {
            let essential = match o.get("essential") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return None,
            };
            let mut values = Vec::new();
            if let Some(Value::String(s)) = o.get("value") {
                values.push(s.clone());
            }
            if let Some(vs) = o.get("values") {
                values.extend(vs.as_array()?.iter().filter_map(|x| x.as_str().map(str::to_owned)));
            }
            Some(ClaimSpec { essential, values })
        }
        _ => None,
    }
}

/// The value of one citizen claim, if the citizen has it.
fn citizen_claim(p: &CitizenProfile, name: &str) -> Option<Value> {
    Some(match name {
        "name" => json!(p.full_name),
        "gender" => json!(p.gender.as_ref()?),
        "birthdate" => json!(p.birthdate.as_ref()?),
        "updated_at" => json!(p.updated_at),
        "email" => json!(p.email.as_ref()?),
        "email_verified" => json!(p.email.as_ref().map(|_| p.email_verified)?),
        "phone_number" => json!(p.phone.as_ref()?),
        "phone_number_verified" => json!(p.phone.as_ref().map(|_| p.phone_verified)?),
        "address" => json!({ "formatted": p.address.as_ref()? }),
        "national_id" => json!(p.national_id),
        "national_id_verified" => json!(p.national_id_verified),
        _ => return None,
    })
}

/// Claims for the UserInfo response: those of the granted scopes plus those
/// requested individually in the `userinfo` member.
pub fn userinfo_claims(p: &CitizenProfile, scopes: &[String], request: Option<&ClaimsRequest>) -> Map<String, Value> {
    let mut out = Map::new();
    let names = scopes
        .iter()
        .flat_map(|s| scope_claims(s).iter().copied())
        .chain(request.into_iter().flat_map(|r| r.userinfo.keys().map(String::as_str)));
    for name in names {
        if let Some(v) = citizen_claim(p, name) {
            out.insert(name.to_owned(), v);
        }
    }
    out
}

/// Claims requested individually in the `id_token` member (OIDC Core §5.5).
pub fn id_token_extra_claims(p: &CitizenProfile, request: Option<&ClaimsRequest>) -> Map<String, Value> {
    let mut out = Map::new();
    for name in request.into_iter().flat_map(|r| r.id_token.keys()) {
        if let Some(v) = citizen_claim(p, name) {
            out.insert(name.clone(), v);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn profile() -> CitizenProfile {
        CitizenProfile {
            account_id: "a".into(),
            national_id: "001099012345".into(),
            national_id_verified: false,
            full_name: "Nguyễn Văn An".into(),
            email: Some("an@example.vn".into()),
            email_verified: false,
            phone: None,
            phone_verified: false,
            birthdate: None,
            gender: None,
            address: None,
            updated_at: 7,
        }
    }

    #[test]
    fn claims_parameter_parses_and_restricts() {
        assert!(ClaimsRequest::parse("[1]").is_err());
        assert!(ClaimsRequest::parse("{\"userinfo\": 3}").is_err());
        assert!(ClaimsRequest::parse("not json").is_err());
        let mut r = ClaimsRequest::parse(
            r#"{"userinfo":{"email":null,"national_id":{"essential":true}},"id_token":{"acr":{"essential":true,"values":["LoA2"]},"name":null}}"#,
        )
        .unwrap();
        assert_eq!(r.essential_acr(), Some(&vec!["LoA2".to_string()]));
        let scopes: Vec<String> = vec!["openid".into(), "profile".into(), "email".into()];
        r.restrict(&scopes, &scopes);
        assert!(r.userinfo.contains_key("email"));
        assert!(!r.userinfo.contains_key("national_id"), "national_id needs its own scope");
        let ui = userinfo_claims(&profile(), &["openid".into()], Some(&r));
        assert_eq!(ui.get("email"), Some(&json!("an@example.vn")));
        assert!(ui.get("name").is_none());
        let idt = id_token_extra_claims(&profile(), Some(&r));
        assert_eq!(idt.get("name"), Some(&json!("Nguyễn Văn An")));
        let by_scope = userinfo_claims(&profile(), &["profile".into(), "national_id".into()], None);
        assert_eq!(by_scope.get("national_id"), Some(&json!("001099012345")));
        assert_eq!(
            by_scope.get("national_id_verified"),
            Some(&json!(false)),
            "a typed-in number is released with its flag"
        );
        assert!(by_scope.get("gender").is_none(), "absent claims are omitted, not null");
    }
}
