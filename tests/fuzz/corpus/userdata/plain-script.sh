#!/bin/bash
set -euo pipefail
echo "setup done" > /var/tmp/setup.log
