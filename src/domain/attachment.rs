//! Is each set attached whole? A set's ranges are spread over its groups, so a network interface (a load
//! balancer's, an instance's) that carries only some of them lets in only the ranges those groups hold: part
//! of CloudFront is silently blocked there. Pure: the sync reads the interfaces through
//! [`crate::ports::NetworkInterfaces`] and asks [`partly_attached`].

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// A network interface that carries at least one group of some set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its id (`eni-…`).
    pub id: String,
    /// What it belongs to, for a person: see [`attachment_of`].
    pub attachment: String,
    /// The security groups it carries.
    pub groups: BTreeSet<String>,
}

/// A network interface that carries some but not all of a set's groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartlyAttached {
    /// The interface's id.
    pub interface: String,
    /// What it belongs to (an instance, a load balancer, …).
    pub attachment: String,
    /// The set's groups it does not carry, sorted: the ranges they hold are blocked there.
    pub missing: Vec<String>,
}

/// The interfaces that carry at least one but not all of `set` (a set's group ids), each with the groups it
/// lacks, in interface order. A set of one group, or one no interface carries, is never partly attached.
pub fn partly_attached(set: &BTreeSet<String>, interfaces: &[Interface]) -> Vec<PartlyAttached> {
    let by_id: BTreeMap<&str, &Interface> = interfaces.iter().map(|i| (i.id.as_str(), i)).collect();
    by_id
        .into_values()
        .filter_map(|interface| {
            let carried = set.intersection(&interface.groups).count();
            let missing: Vec<String> = set.difference(&interface.groups).cloned().collect();
            (carried > 0 && !missing.is_empty()).then(|| PartlyAttached {
                interface: interface.id.clone(),
                attachment: interface.attachment.clone(),
                missing,
            })
        })
        .collect()
}

/// What an interface belongs to, in words, from what EC2 tells of it: the instance it is attached to; else the
/// load balancer named by its description (`ELB app/name/id`); else its description; else its type.
pub fn attachment_of(instance: Option<&str>, description: Option<&str>, interface_type: Option<&str>) -> String {
    if let Some(instance) = instance.filter(|i| !i.is_empty()) {
        return format!("instance {instance}");
    }
    match description.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => match d.strip_prefix("ELB ") {
            Some(balancer) => format!("load balancer {balancer}"),
            None => d.to_owned(),
        },
        None => match interface_type.filter(|t| !t.is_empty() && *t != "interface") {
            Some(t) => format!("{t} interface"),
            None => "network interface with no attachment".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn interface(id: &str, groups: &[&str]) -> Interface {
        Interface {
            id: id.into(),
            attachment: format!("load balancer app/{id}"),
            groups: ids(groups),
        }
    }

    #[test]
    fn an_interface_with_some_of_the_sets_groups_is_reported_with_the_ones_it_lacks() {
        let set = ids(&["sg-a", "sg-b", "sg-c"]);
        let interfaces = [
            interface("eni-2", &["sg-a", "sg-c", "sg-other"]),
            interface("eni-1", &["sg-b"]),
        ];
        assert_eq!(
            partly_attached(&set, &interfaces),
            [
                PartlyAttached {
                    interface: "eni-1".into(),
                    attachment: "load balancer app/eni-1".into(),
                    missing: vec!["sg-a".into(), "sg-c".into()],
                },
                PartlyAttached {
                    interface: "eni-2".into(),
                    attachment: "load balancer app/eni-2".into(),
                    missing: vec!["sg-b".into()],
                },
            ]
        );
    }

    #[test]
    fn an_interface_with_all_or_none_of_the_sets_groups_is_not_reported() {
        let set = ids(&["sg-a", "sg-b"]);
        let interfaces = [
            interface("eni-all", &["sg-a", "sg-b", "sg-web"]),
            interface("eni-none", &["sg-web"]),
        ];
        assert_eq!(partly_attached(&set, &interfaces), []);
    }

    #[test]
    fn a_set_of_one_group_is_never_partly_attached() {
        let set = ids(&["sg-a"]);
        assert_eq!(partly_attached(&set, &[interface("eni-1", &["sg-a"])]), []);
        assert_eq!(partly_attached(&BTreeSet::new(), &[interface("eni-1", &["sg-a"])]), []);
    }

    #[test]
    fn an_interface_listed_twice_is_reported_once() {
        let set = ids(&["sg-a", "sg-b"]);
        let twice = [interface("eni-1", &["sg-a"]), interface("eni-1", &["sg-a"])];
        assert_eq!(partly_attached(&set, &twice).len(), 1);
    }

    #[test]
    fn an_interface_is_named_by_its_instance_then_its_load_balancer_then_its_type() {
        assert_eq!(
            attachment_of(Some("i-0abc"), Some("ELB app/web/1"), Some("interface")),
            "instance i-0abc"
        );
        assert_eq!(
            attachment_of(None, Some("ELB app/web/50dc6c495c0c9188"), Some("interface")),
            "load balancer app/web/50dc6c495c0c9188"
        );
        assert_eq!(attachment_of(Some(""), Some("  my proxy  "), None), "my proxy");
        assert_eq!(attachment_of(None, Some(""), Some("lambda")), "lambda interface");
        assert_eq!(
            attachment_of(None, None, Some("interface")),
            "network interface with no attachment"
        );
    }
}
