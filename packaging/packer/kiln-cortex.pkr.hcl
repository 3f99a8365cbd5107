# kiln-cortex.pkr.hcl: bakes one image (AMI) of the reference Cortex cluster
# per role (consul-server, cortex, gateway, monitoring) from Debian 12, with
# kiln installed and the role's kiln.d snippet and templates in /etc/kiln.
#
#   packer init packaging/packer
#   packer build -var role=cortex -var kiln_deb=../kiln_0.1.0_amd64.deb packaging/packer
#
# What makes this different from a cloud-init bake: kiln runs at every boot
# of every instance made from the image, so the image must leave the builder
# with no trace of the builder's own boot (kiln's state, logs, machine-id):
# `kiln clean --logs --machine-id` is the last step.  Nothing of kiln runs on
# the builder: /etc/kiln/kiln-disabled (kiln's own off switch, a
# ConditionPathExists= of every kiln unit) is in place from before the
# package is installed until just before that last step.  The role's
# software (consul, cortex, nginx, prometheus, grafana, node-exporter) is
# the image's business, not kiln's: role_packages installs what Debian has,
# and the rest needs provisioners of your own (see README.md).

packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.2.0"
    }
  }
}

variable "role" {
  description = "The role the image is for: which config/examples/<role>.kiln.yaml becomes /etc/kiln/kiln.d/<role>.yaml."
  type        = string
  validation {
    condition     = contains(["consul-server", "cortex", "gateway", "monitoring"], var.role)
    error_message = "The role must be consul-server, cortex, gateway or monitoring."
  }
}

variable "kiln_deb" {
  description = "Path of the kiln .deb to install (packaging/debian builds it)."
  type        = string
}

variable "role_packages" {
  description = "Debian packages of the role's software, e.g. [\"nginx-light\", \"prometheus-nginxlog-exporter\", \"prometheus-node-exporter\"] for the gateway."
  type        = list(string)
  default     = []
}

variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "instance_type" {
  type    = string
  default = "t3.small"
}

variable "subnet_id" {
  description = "Subnet of the builder instance (it needs to reach Debian's mirrors); null: the default VPC."
  type        = string
  default     = null
}

locals {
  # The source tree: this file is packaging/packer/kiln-cortex.pkr.hcl.
  source_dir = "${path.root}/../.."
  built      = formatdate("YYYYMMDD-hhmmss", timestamp())
}

source "amazon-ebs" "debian12" {
  region        = var.region
  instance_type = var.instance_type
  subnet_id     = var.subnet_id
  ssh_username  = "admin" # Debian's AMIs; /etc/kiln/kiln.yaml's ssh.user
  # Packer's temporary key must not stay in the image's authorized_keys.
  ssh_clear_authorized_keys = true

  # The newest official Debian 12 (bookworm) AMI, published by Debian's AWS account.
  source_ami_filter {
    owners      = ["136693071363"]
    most_recent = true
    filters = {
      name                = "debian-12-amd64-*"
      architecture        = "x86_64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
  }

  # The builder itself speaks IMDSv2 only, as the instances will.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  imds_support = "v2.0" # instances launched from the AMI default to IMDSv2

  # docs/terraform/<role>/main.tf finds the newest image by this name.
  ami_name        = "kiln-${var.role}-${local.built}"
  ami_description = "Debian 12 with kiln, role ${var.role} of the Cortex cluster"
  tags = {
    Name = "kiln-${var.role}"
    Role = var.role
  }
}

build {
  sources = ["source.amazon-ebs.debian12"]

  # Uploads land in /tmp (the login user can't write /etc); the shell step
  # moves them into place as root.
  provisioner "file" {
    source      = var.kiln_deb
    destination = "/tmp/kiln.deb"
  }

  provisioner "file" {
    source      = "${local.source_dir}/config/examples/${var.role}.kiln.yaml"
    destination = "/tmp/kiln-role.yaml"
  }

  # No trailing slash: the directory itself arrives as /tmp/templates.
  provisioner "file" {
    source      = "${local.source_dir}/config/templates"
    destination = "/tmp"
  }

  provisioner "shell" {
    execute_command = "sudo sh -eux '{{ .Path }}'"
    inline = [
      # kiln must not run on the builder, even if the package starts its units.
      "install -d -m 0755 /etc/kiln /etc/kiln/kiln.d",
      "touch /etc/kiln/kiln-disabled",
      "export DEBIAN_FRONTEND=noninteractive",
      "apt-get update",
      "apt-get install -y /tmp/kiln.deb",
      length(var.role_packages) > 0 ? "apt-get install -y --no-install-recommends ${join(" ", var.role_packages)}" : "true",
      # The role: its kiln.d snippet and the templates it renders.
      "install -m 0644 -o root -g root /tmp/kiln-role.yaml /etc/kiln/kiln.d/${var.role}.yaml",
      "rm -rf /etc/kiln/templates",
      "cp -r /tmp/templates /etc/kiln/templates",
      "chown -R root:root /etc/kiln/templates",
      "chmod -R u=rwX,go=rX /etc/kiln/templates",
      # kiln does cloud-init's job: two agents would both name the host and
      # install keys.  cloud-init's own off switch; its packages stay.
      "if [ -d /etc/cloud ]; then touch /etc/cloud/cloud-init.disabled; fi",
      # One thing cloud-init did that kiln does not: new SSH host keys per
      # instance.  The keys are removed in the last step and made at boot.
      "install -d -m 0755 /etc/systemd/system/ssh.service.d",
      "printf '[Service]\\nExecStartPre=\\nExecStartPre=/usr/bin/ssh-keygen -A\\nExecStartPre=/usr/sbin/sshd -t\\n' >/etc/systemd/system/ssh.service.d/host-keys.conf",
      "systemctl enable kiln-local.service kiln-network.service kiln-config.service kiln-final.service",
      # The image's config, checked as a boot will load it (kiln.yaml and
      # kiln.d merged, last); an error or a warning (an unknown key, say)
      # fails the bake.
      "check() { if kiln validate \"$@\" 2>/tmp/kiln-validate.log; then r=0; else r=1; fi; cat /tmp/kiln-validate.log >&2; [ $r = 0 ] && ! grep -q warning: /tmp/kiln-validate.log; }",
      "check --image /etc/kiln/kiln.yaml",
      "check --image /etc/kiln/kiln.d/${var.role}.yaml",
      "check",
    ]
  }

  # Last: leave nothing of the builder's boot in the image, and let kiln run
  # at the first boot of every instance made from it.
  provisioner "shell" {
    execute_command = "sudo sh -eux '{{ .Path }}'"
    inline = [
      "rm -rf /tmp/kiln.deb /tmp/kiln-role.yaml /tmp/templates /tmp/kiln-validate.log",
      "rm -f /etc/ssh/ssh_host_*",
      "rm -f /etc/kiln/kiln-disabled",
      "kiln clean --logs --machine-id",
    ]
  }
}
