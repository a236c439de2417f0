//! What the server check found, put to use: the discovered sites and config files of a
//! server, and binding a managed certificate to a site or importing the one it serves.

use super::certificates::{DeploymentInput, ImportInput};
use super::discovery::MAX_CERT_BYTES;
use super::remote::server_label;
use super::{Actor, Services};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::certificates::{CertificateRow, DeploymentRow};
use crate::store::discovery::{self as store, SiteRow};
use crate::store::servers::ServerConfigRow;

impl Services {
    /// The sites found on a server by its last check.
    pub async fn server_sites(&self, actor: &Actor, server_id: i64) -> ServiceResult<Vec<SiteRow>> {
        self.server_get(actor, server_id).await?;
        Ok(store::list_sites(self.db(), server_id).await?)
    }

    /// A discovered site the actor may see.
    pub async fn server_site_get(&self, actor: &Actor, site_id: i64) -> ServiceResult<SiteRow> {
        let site = store::get_site(self.db(), site_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("site", site_id))?;
        self.server_get(actor, site.server_id).await?;
        Ok(site)
    }

    fn site_deployment(site: &SiteRow) -> ServiceResult<DeploymentInput> {
        let cert_path = site.cert_path.clone().filter(|p| p.starts_with('/')).ok_or_else(|| {
            ServiceError::invalid(
                "site",
                "this site has no certificate file (not a TLS site, or a path with variables)",
            )
        })?;
        Ok(DeploymentInput {
            deploy_path: cert_path,
            config_path: Some(site.config_path.clone()),
            key_path: site.key_path.clone().filter(|p| p.starts_with('/')),
            verify_sni: site
                .names()
                .into_iter()
                .find(|n| !n.starts_with('*') && !n.starts_with('~')),
            verify_port: site.port.map(i64::from),
            auto_deploy: true,
            ..Default::default()
        })
    }

    /// Binds a managed certificate to a discovered site in one step: a deployment at the site's
    /// certificate and key paths, verified on its port with its first name.
    pub async fn site_bind(&self, actor: &Actor, site_id: i64, cert_id: i64) -> ServiceResult<DeploymentRow> {
        actor.require_write("site.bind")?;
        let site = self.server_site_get(actor, site_id).await?;
        let input = Self::site_deployment(&site)?;
        self.deployment_create_with(actor, cert_id, site.server_id, &input)
            .await
    }

    /// Imports the certificate a site serves from disk (certificate, chain and key read over
    /// SFTP) and binds it to the site, so the next renewal is deployed where it was found.
    pub async fn site_import(&self, actor: &Actor, site_id: i64) -> ServiceResult<(CertificateRow, DeploymentRow)> {
        actor.require_write("site.import")?;
        let site = self.server_site_get(actor, site_id).await?;
        let input = Self::site_deployment(&site)?;
        let key_path = site
            .key_path
            .clone()
            .ok_or_else(|| ServiceError::invalid("site", "the site's config names no key file"))?;
        let server = self.server_get(actor, site.server_id).await?;
        // Refused before the import: the site's files may already be another deployment's.
        self.deployment_paths_free(actor, &server, &input).await?;
        let session = self.ssh_connect(&server).await?;
        let read = |path: String| {
            let session = &session;
            async move {
                let sftp = session.sftp().await.map_err(|e| ServiceError::Remote(e.to_string()))?;
                sftp.read(&path, MAX_CERT_BYTES)
                    .await
                    .map_err(|e| {
                        ServiceError::invalid(
                            "site",
                            format!("cannot read {path} as the SSH user ({e}); if only root may read it, import the files with `certdeck cert import`"),
                        )
                    })?
                    .ok_or_else(|| ServiceError::invalid("site", format!("{path} is too large for a PEM file")))
            }
        };
        let certificate = read(input.deploy_path.clone()).await?;
        let private_key = zeroize::Zeroizing::new(read(key_path).await?);
        let chain = match &site.chain_path {
            Some(p) => Some(read(p.clone()).await?),
            None => None,
        };
        session.close().await;
        let imported = self
            .cert_import(
                actor,
                &ImportInput {
                    name: site.names().first().cloned(),
                    certificate,
                    private_key: private_key.to_vec(),
                    chain,
                    notes: Some(format!(
                        "imported from {} on {}",
                        site.config_path,
                        server_label(&server)
                    )),
                },
            )
            .await?;
        let dep = self
            .deployment_create_with(actor, imported.id, site.server_id, &input)
            .await?;
        Ok((imported, dep))
    }

    /// One config file with its content.
    pub async fn server_config_get(&self, actor: &Actor, config_id: i64) -> ServiceResult<ServerConfigRow> {
        let c = crate::store::servers::get_server_config(self.db(), config_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("server config", config_id))?;
        self.server_get(actor, c.server_id).await?;
        Ok(c)
    }
}
