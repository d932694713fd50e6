# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Nova's own conformance tests, run with stock LibvirtDriver and with ours.

Every class here comes in pairs: ``Stock...`` is Nova's own test class of
the running release unchanged, ``UEFIShim...`` is the same class with
``UEFIShimDriver`` and a real sidecar process behind it.
``run-functional.sh --conformance`` runs them and prints the two counts side
by side.
"""

# This tree's driver on nova.virt's package path, before any test module
# imports it.
import nova_uefi_shim_tests  # noqa: F401,E402
