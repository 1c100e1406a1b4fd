import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dns1123LabelErrors,
  dns1123SubdomainErrors,
  labelValueErrors,
  portNameErrors,
  portNumberErrors,
  qualifiedNameErrors,
} from '../../src/dialects/k8s-validation.js';

const cases: readonly { name: string; check: (s: string) => string[]; input: string; valid: boolean }[] = [
  { name: 'label: lower-case with hyphen', check: dns1123LabelErrors, input: 'my-ns', valid: true },
  { name: 'label: dots are not allowed', check: dns1123LabelErrors, input: 'my.ns', valid: false },
  {
    name: 'label: 64 characters is too long',
    check: dns1123LabelErrors,
    input: 'a'.repeat(64),
    valid: false,
  },
  { name: 'label: must not end with a hyphen', check: dns1123LabelErrors, input: 'ns-', valid: false },
  { name: 'subdomain: dots are allowed', check: dns1123SubdomainErrors, input: 'a.b-c.d', valid: true },
  { name: 'subdomain: upper case is not', check: dns1123SubdomainErrors, input: 'Web', valid: false },
  { name: 'subdomain: empty is not', check: dns1123SubdomainErrors, input: '', valid: false },
  { name: 'qualified name: plain', check: qualifiedNameErrors, input: 'app', valid: true },
  {
    name: 'qualified name: with prefix',
    check: qualifiedNameErrors,
    input: 'kubernetes.io/metadata.name',
    valid: true,
  },
  {
    name: 'qualified name: upper case and underscore in the name part',
    check: qualifiedNameErrors,
    input: 'My_Key',
    valid: true,
  },
  {
    name: 'qualified name: upper-case prefix',
    check: qualifiedNameErrors,
    input: 'Example.com/app',
    valid: false,
  },
  { name: 'qualified name: two slashes', check: qualifiedNameErrors, input: 'a/b/c', valid: false },
  {
    name: 'qualified name: empty name part',
    check: qualifiedNameErrors,
    input: 'example.com/',
    valid: false,
  },
  {
    name: 'qualified name: name part of 64 characters',
    check: qualifiedNameErrors,
    input: 'x'.repeat(64),
    valid: false,
  },
  { name: 'label value: empty is fine', check: labelValueErrors, input: '', valid: true },
  {
    name: 'label value: dots, dashes, underscores inside',
    check: labelValueErrors,
    input: 'v1.2_3-x',
    valid: true,
  },
  { name: 'label value: must not start with a dash', check: labelValueErrors, input: '-x', valid: false },
  { name: 'port name: http', check: portNameErrors, input: 'http', valid: true },
  {
    name: 'port name: digits and hyphen with a letter',
    check: portNameErrors,
    input: 'h2-8080',
    valid: true,
  },
  { name: 'port name: digits only', check: portNameErrors, input: '8080', valid: false },
  { name: 'port name: 16 characters', check: portNameErrors, input: 'abcdefghijklmnop', valid: false },
  { name: 'port name: leading hyphen', check: portNameErrors, input: '-http', valid: false },
  { name: 'port name: underscore', check: portNameErrors, input: 'my_port', valid: false },
];

void describe('Kubernetes name rules', () => {
  for (const c of cases) {
    void it(c.name, () => {
      const errs = c.check(c.input);
      assert.equal(errs.length === 0, c.valid, errs.join('; '));
    });
  }

  const ports: readonly [number, boolean][] = [
    [0, false],
    [1, true],
    [65535, true],
    [65536, false],
    [-80, false],
  ];
  for (const [n, valid] of ports) {
    void it(`port number ${n} is ${valid ? 'valid' : 'invalid'}`, () => {
      assert.equal(portNumberErrors(n).length === 0, valid);
    });
  }
});
