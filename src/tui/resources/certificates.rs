//! Certificates: the table (sortable by expiry), the detail with deployments, challenges and
//! notes, import / request / edit forms, deployments added from the detail, and the row actions
//! (show PEM, deploy, renew, revoke, delete).

use chrono::Utc;
use futures::future::BoxFuture;

use super::contract::{Cx, Resource};
use super::model::*;
use super::values::*;
use crate::errors::ServiceResult;
use crate::service::certificates::{CertChanges, DeploymentInput, ImportInput};
use crate::service::deploy::DeployTarget;
use crate::service::query::Watched;
use crate::service::query::{CertFilter, CertOrder, ListFilter};
use crate::tui::action::Action;
use crate::tui::effects::{Query, Redacted, Reply};
use crate::tui::form::{yes_no, Field, Form, FormOp, YES_NO};
use crate::tui::model::Kind;
use crate::tui::state::{Body, Detail, Link, Tab};

/// The certificates pane.
pub struct Certificates;

const COLUMNS: &[Column] = &[
    col("id", 6, 0),
    col("domain", 18, 4),
    col("name", 10, 2),
    col("status", 8, 0),
    col("type", 12, 0),
    col("expires", 16, 0),
    col("left", 10, 0),
    col("auto_renew", 6, 0),
];

/// Requests a certificate from an ACME CA (the order runs as a `certificate_issue` task).
pub fn request_form() -> Form {
    Form::new(
        Kind::Certificates,
        FormOp::Request,
        "form.cert_request",
        vec![
            Field::text("domains", "").required(),
            Field::text("ca", "letsencrypt").required(),
            Field::text("email", ""),
            Field::picker(
                "key_type",
                &["ec256", "ec384", "rsa2048", "rsa3072", "rsa4096"],
                "ec256",
            ),
            Field::picker("challenge", &["dns-01", "http-01"], "dns-01"),
            Field::number("dns_provider", ""),
            Field::text("http_listen", "0.0.0.0:80"),
            Field::number("http_server", ""),
            Field::text("webroot", ""),
            Field::picker("reuse_key", YES_NO, "no"),
            Field::text("profile", ""),
            Field::text("preferred_chain", ""),
            Field::text("name", ""),
        ],
    )
}

impl Resource for Certificates {
    fn kind(&self) -> Kind {
        Kind::Certificates
    }

    fn commands(&self) -> &'static [&'static str] {
        &["certificates", "certs", "cert", "crt"]
    }

    fn title_key(&self) -> &'static str {
        "pane.certificates"
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn orders(&self) -> &'static [Order] {
        &[Order::Newest, Order::Expiry]
    }

    fn sql_filters(&self) -> &'static [&'static str] {
        CertFilter::KEYS
    }

    fn row_actions(&self) -> &'static [Action] {
        &[
            Action::Edit,
            Action::Delete,
            Action::ShowPem,
            Action::Deploy,
            Action::Renew,
            Action::Revoke,
        ]
    }

    fn creates_in_detail(&self) -> bool {
        true
    }

    fn watched(&self) -> Watched {
        Watched::Certificates
    }

    fn create_form(&self, parent: Option<i64>) -> Option<Form> {
        Some(match parent {
            Some(cert) => Form::new(
                Kind::Certificates,
                FormOp::Add(cert),
                "form.deployment_create",
                vec![
                    Field::number("server", "").required(),
                    Field::text("deploy_path", "").required(),
                    Field::text("key_path", ""),
                    Field::text("config_path", ""),
                    Field::text("verify_sni", ""),
                    Field::number("verify_port", ""),
                    Field::picker("auto_deploy", YES_NO, "yes"),
                ],
            ),
            None => Form::new(
                Kind::Certificates,
                FormOp::Create,
                "form.cert_import",
                vec![
                    Field::text("certificate", "").required(),
                    Field::text("private_key", "").required(),
                    Field::text("chain", ""),
                    Field::text("name", ""),
                    Field::text("notes", ""),
                ],
            ),
        })
    }

    fn load_page<'a>(
        &'a self,
        cx: Cx<'a>,
        q: &'a Query,
        start: Option<Cursor>,
    ) -> BoxFuture<'a, ServiceResult<Fetched>> {
        Box::pin(async move {
            let mut f = CertFilter::from_terms(&q.terms, Utc::now())?;
            if q.order == Order::Expiry {
                f.order = CertOrder::Expiry;
                if let Some(Cursor::Expiry(t, id)) = start {
                    f.after_expiry = Some((t, id));
                }
            }
            let rows = cx.svc.cert_list(cx.actor, &f, id_page(start)).await?;
            let rows = rows
                .iter()
                .map(|c| {
                    let mut r = Row::new(
                        c.id,
                        vec![
                            text(c.id.to_string()),
                            text(c.main_domain.clone()),
                            opt(&c.name),
                            status(c.status.as_str()),
                            text(c.certificate_type.as_str()),
                            Cell::Time(c.expires_at),
                            Cell::Rel(c.expires_at, true),
                            Cell::Bool(c.auto_renew),
                        ],
                    );
                    if q.order == Order::Expiry {
                        if let Some(t) = c.expires_at {
                            r.cursor = Cursor::Expiry(t, c.id);
                        }
                    }
                    r
                })
                .collect();
            Ok(finish(rows, q, true))
        })
    }

    fn load_detail<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Detail>> {
        Box::pin(async move {
            let (svc, a) = (cx.svc, cx.actor);
            let c = svc.cert_get(a, id).await?;
            let deps = svc.deployment_list(a, Some(id), None).await?;
            let chal = svc.cert_challenges(a, id, Page::first(100)).await?;
            let notes = svc.cert_notes(a, id).await?.unwrap_or_default();
            let domains: Vec<String> = serde_json::from_str(&c.domains).unwrap_or_default();
            Ok(Detail {
                title: c.main_domain.clone(),
                active: true,
                tabs: vec![
                    overview(vec![
                        field("id", text(c.id.to_string())),
                        field("name", or_dash(&c.name)),
                        field("domains", text(domains.join(", "))),
                        field("issuer", or_dash(&c.issuer)),
                        field("status", status(c.status.as_str())),
                        field("type", text(c.certificate_type.as_str())),
                        field("key_type", text(c.encryption_type.as_str())),
                        field("issued", Cell::Time(c.issued_at)),
                        field("expires", Cell::Time(c.expires_at)),
                        field("left", Cell::Rel(c.expires_at, true)),
                        field("auto_renew", Cell::Bool(c.auto_renew)),
                        field("renew_before_days", text(c.renew_before_days.to_string())),
                        field("last_renewal", Cell::Time(c.last_renewal_at)),
                        field("owner", text(format!("#{}", c.user_id))),
                    ]),
                    Tab {
                        links: Some((Link::Deployment, deps.iter().map(|d| d.id).collect())),
                        key: "tab.deployments",
                        body: Body::Table(
                            vec![
                                "id",
                                "server",
                                "deploy_path",
                                "status",
                                "auto_deploy",
                                "deployed",
                                "error",
                            ],
                            deps.iter()
                                .map(|d| {
                                    vec![
                                        text(d.id.to_string()),
                                        text(format!("#{}", d.server_id)),
                                        text(d.deploy_path.clone()),
                                        status(d.status.as_str()),
                                        Cell::Bool(d.auto_deploy),
                                        Cell::Rel(d.last_deploy_at, false),
                                        or_dash(&d.error_message),
                                    ]
                                })
                                .collect(),
                        ),
                    },
                    tab(
                        "tab.challenges",
                        Body::Table(
                            vec!["id", "domain", "type", "record", "status", "verified"],
                            chal.iter()
                                .map(|ch| {
                                    vec![
                                        text(ch.id.to_string()),
                                        text(ch.domain.clone()),
                                        text(ch.challenge_type.as_str()),
                                        text(format!("{} {}", ch.record_type, ch.record_name)),
                                        status(ch.status.as_str()),
                                        Cell::Rel(ch.verified_at, false),
                                    ]
                                })
                                .collect(),
                        ),
                    ),
                    tab("tab.notes", Body::Text(notes)),
                ],
            })
        })
    }

    fn edit_form<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Form>> {
        Box::pin(async move {
            let r = cx.svc.cert_get(cx.actor, id).await?;
            let notes = cx.svc.cert_notes(cx.actor, id).await?;
            Ok(Form::new(
                Kind::Certificates,
                FormOp::Edit(r.id),
                "form.cert_edit",
                vec![
                    Field::text("name", r.name.as_deref().unwrap_or("")),
                    Field::picker("auto_renew", YES_NO, yes_no(r.auto_renew)),
                    Field::number("renew_before_days", &r.renew_before_days.to_string()),
                    Field::text("notes", notes.as_deref().unwrap_or("")),
                ],
            ))
        })
    }

    fn submit<'a>(&'a self, cx: Cx<'a>, op: FormOp, v: &'a Values) -> BoxFuture<'a, ServiceResult<Reply>> {
        Box::pin(async move {
            let (s, a) = (cx.svc, cx.actor);
            match op {
                FormOp::Create => {
                    let input = ImportInput {
                        name: opt_s(v, "name"),
                        certificate: read_file("certificate", get(v, "certificate"))?,
                        // A key file on this host: through the service's check (admins and
                        // allowed users; audited), like a server's key file.
                        private_key: s
                            .read_host_private_key_file(a, &shellexpand_home(get(v, "private_key")))
                            .await?
                            .into_bytes(),
                        chain: match opt_s(v, "chain") {
                            Some(p) => Some(read_file("chain", &p)?),
                            None => None,
                        },
                        notes: opt_s(v, "notes"),
                    };
                    let c = s.cert_import(a, &input).await?;
                    done(
                        "done.imported",
                        "noun.certificate",
                        &format!("{} (#{})", c.main_domain, c.id),
                    )
                }
                FormOp::Edit(id) => {
                    let c = CertChanges {
                        name: Some(get(v, "name").to_string()),
                        notes: Some(get(v, "notes").to_string()),
                        auto_renew: Some(yes(v, "auto_renew")),
                        renew_before_days: num(v, "renew_before_days")?,
                    };
                    let r = s.cert_update(a, id, &c).await?;
                    done("done.updated", "noun.certificate", &r.main_domain)
                }
                FormOp::Request => {
                    let input = crate::service::acme::RequestInput {
                        domains: get(v, "domains")
                            .split(|c: char| c == ',' || c.is_whitespace())
                            .filter(|d| !d.is_empty())
                            .map(str::to_string)
                            .collect(),
                        ca: get(v, "ca").to_string(),
                        email: opt_s(v, "email"),
                        key: opt_s(v, "key_type"),
                        challenge: get(v, "challenge").to_string(),
                        dns_provider_id: num(v, "dns_provider")?,
                        http_listen: opt_s(v, "http_listen"),
                        http_server_id: num(v, "http_server")?,
                        webroot: opt_s(v, "webroot"),
                        key_reuse: yes(v, "reuse_key"),
                        profile: opt_s(v, "profile"),
                        preferred_chain: opt_s(v, "preferred_chain"),
                        name: opt_s(v, "name"),
                    };
                    let (c, t) = s.cert_request(a, &input).await?;
                    done(
                        "done.requested",
                        "noun.certificate",
                        &format!("{} (#{}, task #{})", c.main_domain, c.id, t.id),
                    )
                }
                FormOp::Add(cert) => {
                    let input = DeploymentInput {
                        deploy_path: get(v, "deploy_path").to_string(),
                        config_path: opt_s(v, "config_path"),
                        key_path: opt_s(v, "key_path"),
                        verify_sni: opt_s(v, "verify_sni"),
                        verify_port: num(v, "verify_port")?,
                        auto_deploy: yes(v, "auto_deploy"),
                        ..Default::default()
                    };
                    let d = s.deployment_create_with(a, cert, req_num(v, "server")?, &input).await?;
                    done("done.created", "noun.deployment", &format!("#{}", d.id))
                }
                FormOp::OnLink(..) => Err(self.not_applicable(Action::Submit)),
            }
        })
    }

    fn row_action<'a>(
        &'a self,
        cx: Cx<'a>,
        action: Action,
        id: i64,
        link: Option<(Link, i64)>,
        _arg: Option<String>,
    ) -> BoxFuture<'a, ServiceResult<Reply>> {
        Box::pin(async move {
            let (s, a) = (cx.svc, cx.actor);
            match link {
                Some((Link::Deployment, other)) => {
                    s.deployment_delete(a, other).await?;
                    return done("done.deleted", "noun.deployment", &format!("#{other}"));
                }
                Some(_) => return Err(self.not_applicable(action)),
                None => {}
            }
            match action {
                Action::Delete => {
                    s.cert_delete(a, id).await?;
                    done("done.deleted", "noun.certificate", &format!("#{id}"))
                }
                Action::ShowPem => {
                    let e = s.cert_export(a, id, false).await?;
                    Ok(Reply::Secret(
                        "reveal.pem",
                        note("done.shown", "noun.certificate", &format!("#{id}")),
                        Redacted(e.fullchain_pem),
                    ))
                }
                Action::Renew => {
                    let t = s.cert_renew(a, id).await?;
                    done("done.queued", "noun.renewal", &format!("#{}", t.id))
                }
                Action::Revoke => {
                    let c = s.cert_revoke(a, id, "unspecified").await?;
                    done("done.revoked", "noun.certificate", &c.main_domain)
                }
                Action::Deploy => {
                    let t = s.deploy_enqueue(a, id, DeployTarget::All).await?;
                    done("done.queued", "noun.deploy", &format!("#{}", t.id))
                }
                other => Err(self.not_applicable(other)),
            }
        })
    }
}
