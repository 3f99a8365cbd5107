# The monitoring node of the reference cluster: Prometheus (scraping every
# service in Consul's catalog, writing everything to Cortex through the
# gateway) and Grafana; one instance of the image Packer baked with
# role = "monitoring" (packaging/packer/kiln-cortex.pkr.hcl), with a data
# EBS volume for Prometheus' local TSDB.
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

variable "gateway_url" {
  description = "The gateway (docs/terraform/gateway's output url, or an internal load balancer): remote_write goes to <it>/api/v1/push."
  type        = string
}

variable "subnet_id" {
  description = "The private subnet of the monitoring node."
  type        = string
}

variable "security_group_ids" {
  description = "Security groups: Prometheus (9090), Grafana (3000), Consul (8301 TCP/UDP), node-exporter (9100)."
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
  default = "m6i.large"
}

variable "data_volume_size" {
  description = "GiB of the data volume (Prometheus' local TSDB)."
  type        = number
  default     = 100
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

# The newest image Packer baked for the role (ami_name "kiln-monitoring-<time>").
data "aws_ami" "monitoring" {
  owners      = ["self"]
  most_recent = true
  filter {
    name   = "name"
    values = ["kiln-monitoring-*"]
  }
}

data "aws_subnet" "node" {
  id = var.subnet_id
}

locals {
  # The variables of user-data.yaml.tftpl.
  user_data_vars = {
    cluster           = var.cluster
    consul_gossip_key = var.consul_gossip_key
    gateway_url       = var.gateway_url
  }
}

data "cloudinit_config" "monitoring" {
  gzip          = true
  base64_encode = true

  # The role's cloud-config: a jinja template (kiln renders it at boot).
  part {
    filename     = "monitoring.yaml"
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

resource "aws_instance" "monitoring" {
  ami                    = data.aws_ami.monitoring.id
  instance_type          = var.instance_type
  subnet_id              = data.aws_subnet.node.id
  vpc_security_group_ids = var.security_group_ids
  iam_instance_profile   = var.instance_profile
  key_name               = var.key_name

  user_data_base64            = var.user_data_format == "cloudinit_config" ? data.cloudinit_config.monitoring.rendered : null
  user_data                   = var.user_data_format == "templatefile" ? templatefile("${path.module}/user-data.yaml.tftpl", local.user_data_vars) : null
  user_data_replace_on_change = true # a new instance; the data volume is attached to it as it is

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only: kiln never reads without a token
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "enabled" # the tags below appear in kiln's instance-data (tags.*)
  }

  tags = {
    Name          = "monitoring"
    Role          = "monitoring"
    ConsulCluster = var.cluster
  }
}

resource "aws_ebs_volume" "data" {
  availability_zone = data.aws_subnet.node.availability_zone
  size              = var.data_volume_size
  type              = "gp3"
  encrypted         = true

  tags = {
    Name = "monitoring-data"
    Role = "monitoring"
  }
}

# Attached once the instance exists, so the volume may appear well into the
# first boot: kiln waits for it (volumes[].wait_seconds, 300 s by default)
# and formats it only if it is blank.  The device name is the one the
# image's kiln.d/monitoring.yaml looks for (device: sdf).
resource "aws_volume_attachment" "data" {
  device_name                    = "/dev/sdf"
  volume_id                      = aws_ebs_volume.data.id
  instance_id                    = aws_instance.monitoring.id
  stop_instance_before_detaching = true
}

output "grafana_url" {
  value = "http://${aws_instance.monitoring.private_ip}:3000"
}
