//! AWS Organizations in moto, for the tests over OUs: an organization, its OUs and accounts. (Its own file, as
//! `waf.rs`: included by the tests that use it.)
#![allow(dead_code)]

use aws_config::BehaviorVersion;
use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::OrganizationFeatureSet;

/// An organization created in moto (its management account is moto's default account).
pub struct Org {
    pub client: Client,
    pub root: String,
}

impl Org {
    /// A new organization at `endpoint`, with all features.
    pub async fn create(endpoint: &str) -> Org {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .test_credentials()
            .load()
            .await;
        let client = Client::new(&config);
        client
            .create_organization()
            .feature_set(OrganizationFeatureSet::All)
            .send()
            .await
            .unwrap();
        let roots = client.list_roots().send().await.unwrap();
        let root = roots.roots()[0].id().unwrap().to_owned();
        Org { client, root }
    }

    /// A new OU under `parent`.
    pub async fn unit(&self, parent: &str, name: &str) -> String {
        let unit = self
            .client
            .create_organizational_unit()
            .parent_id(parent)
            .name(name)
            .send()
            .await
            .unwrap();
        unit.organizational_unit().unwrap().id().unwrap().to_owned()
    }

    /// A new account, moved under `parent`.
    pub async fn account(&self, parent: &str, name: &str) -> String {
        let created = self
            .client
            .create_account()
            .email(format!("{name}@example.com"))
            .account_name(name)
            .send()
            .await
            .unwrap();
        let id = created
            .create_account_status()
            .unwrap()
            .account_id()
            .unwrap()
            .to_owned();
        if parent != self.root {
            self.client
                .move_account()
                .account_id(&id)
                .source_parent_id(&self.root)
                .destination_parent_id(parent)
                .send()
                .await
                .unwrap();
        }
        id
    }

    /// Close account `id` (moto then lists it SUSPENDED).
    pub async fn close(&self, id: &str) {
        self.client.close_account().account_id(id).send().await.unwrap();
    }
}
