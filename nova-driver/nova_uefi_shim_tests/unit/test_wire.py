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

"""The sidecar's wire schema takes what this Nova's object model allows.

For every field of Instance, Flavor, ImageMetaProps and Migration that the
OpenAPI schema (openapi/nova-uefi-shim.json) describes, walked from the
running Nova's ``nova.objects`` field definitions (not copied by hand): a
nullable field must accept null, and a value of the field's type (every
valid value of an enum) must be accepted. Run on each release by
``run-functional.sh --release``, so each release's own object model is
checked, by type and nullability; value ranges that Nova's API enforces but its object
model does not (a flavor's vcpus >= 1) are the schema's own. Then destroy
and cleanup, the calls that must never be refused, take an instance with
only its uuid, or with every other field null (they need nothing else; the
sidecar's own test sends them odd values too).
"""

import json
import os
import uuid

import jsonschema
from oslo_versionedobjects import fields

from nova import objects
from nova import test

SCHEMA_FILE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))), 'openapi', 'nova-uefi-shim.json')

#: schema component -> Nova object class name
OBJECTS = (
    ('Instance', 'Instance'),
    ('Flavor', 'Flavor'),
    ('ImageMetaProps', 'ImageMetaProps'),
    ('Migration', 'Migration'),
)


def _samples(field):
    """Values Nova's object model allows for ``field`` (one per kind)."""
    f = field._type
    out = []
    if field.nullable:
        out.append(None)
    if isinstance(f, fields.Enum):
        out.extend(f._valid_values)
    elif isinstance(f, fields.UUID):
        out.append(str(uuid.uuid4()))
    elif isinstance(f, (fields.FlexibleBoolean, fields.Boolean)):
        out.extend([True, False])
    elif isinstance(f, fields.Integer):
        out.append(1)
    elif isinstance(f, fields.String):
        out.append('x')
    elif isinstance(f, fields.Dict):
        out.append({'k': 'v'})
        if getattr(f, '_element_type', None) is not None and \
                f._element_type.nullable:
            out.append({'k': None})
    return out


class WireSchemaTestCase(test.NoDBTestCase):

    def setUp(self):
        super(WireSchemaTestCase, self).setUp()
        objects.register_all()
        with open(SCHEMA_FILE) as f:
            self.doc = json.load(f)
        self.schemas = self.doc['components']['schemas']

    def validator(self, component):
        schema = dict(self.doc, **{'$ref': '#/components/schemas/%s' %
                                   component})
        cls = jsonschema.validators.validator_for(
            {'$schema': 'https://json-schema.org/draft/2020-12/schema'})
        return cls(schema)

    def refused(self, component, body):
        return [e.message for e in self.validator(component).iter_errors(
            body)]

    def test_every_value_novas_objects_allow_is_accepted(self):
        problems = []
        checked = 0
        for component, name in OBJECTS:
            cls = objects.base.NovaObjectRegistry.obj_classes()[name][0]
            props = self.schemas[component].get('properties', {})
            required = self.schemas[component].get('required', [])
            for fname, field in sorted(cls.fields.items()):
                if fname not in props:
                    continue
                for value in _samples(field):
                    body = {fname: value}
                    for r in required:
                        if r not in body:
                            body[r] = next(
                                (v for v in _samples(cls.fields[r])
                                 if v is not None),
                                str(uuid.uuid4())) if r in cls.fields else \
                                str(uuid.uuid4())
                    checked += 1
                    errors = self.refused(component, body)
                    if errors:
                        problems.append('%s.%s = %r (%s%s): %s' % (
                            name, fname, value, type(field._type).__name__,
                            ', nullable' if field.nullable else '',
                            errors[0]))
        self.assertGreater(checked, 20)
        self.assertEqual([], problems, '\n'.join(problems))

    def test_destroy_and_cleanup_need_only_the_uuid(self):
        cls = objects.base.NovaObjectRegistry.obj_classes()['Instance'][0]
        props = self.schemas['Instance']['properties']
        all_null = {'uuid': str(uuid.uuid4())}
        for fname, field in cls.fields.items():
            if fname in props and fname != 'uuid':
                all_null[fname] = None
        self.assertIn('id', all_null)
        for method in ('DestroyRequest', 'CleanupRequest'):
            for instance in ({'uuid': str(uuid.uuid4())}, all_null):
                self.assertEqual([], self.refused(
                    method, {'instance': instance, 'destroy_disks': True}),
                    '%s %s' % (method, instance))
            # ... but not without the uuid
            self.assertNotEqual([], self.refused(
                method, {'instance': {'id': 1}}), method)
