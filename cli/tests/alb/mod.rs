//! An ALB origin in moto, shared by the CLI's audit and rotation tests: the VPC and subnets a load balancer
//! needs, and the target group and actions of its listener.

use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, FixedResponseActionConfig, ProtocolEnum};

use crate::common::create_vpc;

/// A VPC (10.0.0.0/16) with a subnet in us-east-1a and one in us-east-1b (an ALB needs two zones): the VPC's id
/// and the subnets'.
pub async fn vpc_with_two_subnets(ec2: &aws_sdk_ec2::Client) -> (String, Vec<String>) {
    let vpc = create_vpc(ec2, "10.0.0.0/16").await;
    let mut subnets = Vec::new();
    for (cidr, zone) in [("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b")] {
        let out = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(cidr)
            .availability_zone(zone)
            .send()
            .await
            .unwrap();
        subnets.push(out.subnet().unwrap().subnet_id().unwrap().to_owned());
    }
    (vpc, subnets)
}

/// A target group `name` (http, port 80) in `vpc`; an action forwarding to it, and one answering 403.
pub async fn forward_and_refuse(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    vpc: &str,
    name: &str,
) -> (Action, Action) {
    let group = elb
        .create_target_group()
        .name(name)
        .protocol(ProtocolEnum::Http)
        .port(80)
        .vpc_id(vpc)
        .send()
        .await
        .unwrap();
    let group = group.target_groups()[0].target_group_arn().unwrap().to_owned();
    let forward = Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(&group)
        .build();
    let refuse = Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(FixedResponseActionConfig::builder().status_code("403").build())
        .build();
    (forward, refuse)
}
