#!/usr/bin/env bash
# A second moto (moto.sh, same virtual environment) on 127.0.0.1:${SDR_TEST_MOTO_IAM_PORT:-5010}, for tests
# that need IAM enforced: moto checks signatures and policies only after POST /moto-api/reset-auth with
# the number of unchecked actions (0 = check every request). The shared moto on 5000 never enforces IAM,
# so tests that switch enforcement on use this one and never disturb the others.
SDR_TEST_MOTO_PORT="${SDR_TEST_MOTO_IAM_PORT:-5010}" exec bash "$(dirname "$0")/moto.sh"
