/**
 * The fields `extract` pulls from a contract when the job brings no schema of its own: the CUAD
 * categories the project's labelled corpus annotates. Values are verbatim-style text, or null when
 * the contract does not say. Every string and list is bounded so constrained generation always ends.
 */

const text = (maxLength: number, description: string) => ({
  description,
  oneOf: [{ type: 'string', minLength: 1, maxLength }, { type: 'null' }],
});

export const CONTRACT_FIELDS = {
  document_name: text(160, 'the title of the agreement'),
  parties: {
    description: 'the names of the parties that sign the agreement',
    type: 'array',
    items: { type: 'string', minLength: 1, maxLength: 120 },
    maxItems: 8,
  },
  agreement_date: text(60, 'the date the agreement was signed'),
  effective_date: text(120, 'when the agreement takes effect'),
  expiration_date: text(160, 'when the initial term ends'),
  renewal_term: text(200, 'how the agreement renews after the initial term'),
  notice_period_to_terminate_renewal: text(200, 'the notice needed to stop a renewal'),
  governing_law: text(120, 'the law that governs the agreement'),
} as const;

export const CONTRACT_SCHEMA = {
  type: 'object',
  properties: CONTRACT_FIELDS,
  required: Object.keys(CONTRACT_FIELDS),
  additionalProperties: false,
} as const;
