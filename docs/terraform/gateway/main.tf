# The nginx gateway of the reference cluster: the one address Prometheus
# writes to and Grafana reads from, balancing over the Cortex nodes; one
# instance of the image Packer baked with role = "gateway"
# (packaging/packer/kiln-cortex.pkr.hcl).  It keeps no state: no data volume.
#
# Two forms of the same user-data are shown (var.user_data_format):
#   cloudinit_config  data "cloudinit_config": a multipart MIME document,
#                     gzipped and base64-encoded (the provider's defaults),
#                     passed as user_data_base64; parts: the role's
#                     cloud-config (a jinja template) and the shared ops.yaml.
#   templatefile      user_data = templatefile(...): the role's part alone,
#                     as plain text.
# kiln decodes both (docs/user-data.md).  The bytes each produces for the
# example values are in rendered/ (docs/terraform/make-fixtures.py), checked
# by `kiln validate` in the tests.
#
# ${...} in user-data.yaml.tftpl is Terraform's, filled in here before the
# instance exists; the jinja expressions are left for kiln, which renders
# them at boot against the instance's metadata (the instance id is not known
# when Terraform renders the user-data).

terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
    cloudinit = {
      source  = "hashicorp/cloudinit"
      version = ">= 2.3"
    }
  }
}

variable "cluster" {
  description = "The cluster's name: the ConsulCluster tag Consul's cloud auto-join looks for, and Prometheus' cluster label."
  type        = string
  default     = "metrics-eu"
}

variable "consul_gossip_key" {
  description = "Consul's gossip encryption key (`consul keygen`), the same on every node of the cluster."
  type        = string
  sensitive   = true
}

variable "subnet_id" {
  description = "The private subnet of the gateway."
  type        = string
}

variable "security_group_ids" {
  description = "Security groups: HTTP (80) from Prometheus and Grafana, Consul (8301 TCP/UDP), nginxlog-exporter (4040), node-exporter (9100)."
  type        = list(string)
}

variable "instance_profile" {
  description = "IAM instance profile: ec2:DescribeInstances (Consul's cloud auto-join)."
  type        = string
}

variable "key_name" {
  description = "EC2 key pair for the login user (admin); kiln installs its public key."
  type        = string
  default     = null
}

variable "instance_type" {
  type    = string
  default = "c6i.large"
}

variable "user_data_format" {
  description = "cloudinit_config (gzip + base64, several parts) or templatefile (one plain part)."
  type        = string
  default     = "cloudinit_config"
  validation {
    condition     = contains(["cloudinit_config", "templatefile"], var.user_data_format)
    error_message = "user_data_format must be cloudinit_config or templatefile."
  }
}

# The newest image Packer baked for the role (ami_name "kiln-gateway-<time>").
data "aws_ami" "gateway" {
  owners      = ["self"]
  most_recent = true
  filter {
    name   = "name"
    values = ["kiln-gateway-*"]
  }
}

# The Cortex nodes' addresses, by their tags (docs/terraform/cortex): the
# upstreams nginx balances over.  Terraform knows them when it renders the
# user-data; after the cortex nodes change, apply again (the user-data
# changes, so the gateway is replaced).
data "aws_instances" "cortex" {
  instance_tags = {
    Role          = "cortex"
    ConsulCluster = var.cluster
  }
  instance_state_names = ["pending", "running"]
}

locals {
  # The variables of user-data.yaml.tftpl.
  user_data_vars = {
    cluster           = var.cluster
    consul_gossip_key = var.consul_gossip_key
    cortex_node_ips   = sort(data.aws_instances.cortex.private_ips)
  }
}

data "cloudinit_config" "gateway" {
  gzip          = true
  base64_encode = true

  # The role's cloud-config: a jinja template (kiln renders it at boot).
  part {
    filename     = "gateway.yaml"
    content_type = "text/jinja2"
    content      = templatefile("${path.module}/user-data.yaml.tftpl", local.user_data_vars)
  }

  # What every role gets: the operators' SSH keys.  list(append): its lists
  # add to the role part's instead of replacing them.
  part {
    filename     = "ops.yaml"
    content_type = "text/cloud-config"
    merge_type   = "list(append)+dict(recurse_array)+str()"
    content      = file("${path.module}/../common/ops.yaml")
  }
}

resource "aws_instance" "gateway" {
  ami                    = data.aws_ami.gateway.id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_id
  vpc_security_group_ids = var.security_group_ids
  iam_instance_profile   = var.instance_profile
  key_name               = var.key_name

  user_data_base64            = var.user_data_format == "cloudinit_config" ? data.cloudinit_config.gateway.rendered : null
  user_data                   = var.user_data_format == "templatefile" ? templatefile("${path.module}/user-data.yaml.tftpl", local.user_data_vars) : null
  user_data_replace_on_change = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only: kiln never reads without a token
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "enabled" # the tags below appear in kiln's instance-data (tags.*)
  }

  tags = {
    Name          = "gateway"
    Role          = "gateway"
    ConsulCluster = var.cluster
  }
}

output "url" {
  description = "Where Prometheus writes (<url>/api/v1/push) and Grafana reads (<url>/prometheus): the monitoring role's gateway_url."
  value       = "http://${aws_instance.gateway.private_ip}"
}
