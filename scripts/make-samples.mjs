#!/usr/bin/env node
// Writes the demo contracts in samples/ as multi-page PDFs with a real text layer.
// The contracts, parties and people are fictional. Run: node scripts/make-samples.mjs
// The output is byte-for-byte reproducible (fixed dates, no random ids), so regenerating changes nothing.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PDFDocument, StandardFonts } from 'pdf-lib';

const OUT = fileURLToPath(new URL('../samples/', import.meta.url));
const FIXED_DATE = new Date('2025-01-01T00:00:00Z');

const PAGE = { width: 612, height: 792, margin: 72 };
const BODY = { size: 11, leading: 15 };

const contracts = [
  {
    file: 'master-services-agreement.pdf',
    title: 'MASTER SERVICES AGREEMENT',
    blocks: [
      'This Master Services Agreement (the "Agreement") is entered into as of March 1, 2024 (the "Effective Date") by and between Harbor Lane Analytics, Inc., a Delaware corporation with its principal office at 410 Wharf Street, Portland, Maine 04101 ("Provider"), and Calder & Finch Outfitters LLC, an Oregon limited liability company with its principal office at 88 Juniper Avenue, Bend, Oregon 97701 ("Client"). Provider and Client are each a "Party" and together the "Parties".',
      '# 1. Services',
      '1.1 Provider shall perform the data analytics, demand forecasting and reporting services described in one or more statements of work signed by both Parties (each a "Statement of Work"). Each Statement of Work is governed by this Agreement; if a Statement of Work conflicts with this Agreement, this Agreement prevails unless the Statement of Work expressly states otherwise.',
      '1.2 Provider shall assign qualified personnel to the Services and shall name an engagement manager who is the primary point of contact for Client. Provider may replace personnel on reasonable notice, provided that the replacement has comparable skills and experience.',
      "1.3 Client shall provide Provider with timely access to the sales data, systems and staff reasonably required to perform the Services. Provider is not responsible for any delay caused by Client's failure to meet these obligations.",
      '# 2. Fees and Payment',
      '2.1 Client shall pay the fees set out in each Statement of Work. Unless a Statement of Work states otherwise, Provider shall invoice monthly in arrears and Client shall pay each undisputed invoice within thirty (30) days of receipt.',
      "2.2 Late payments bear interest at the lower of one percent (1%) per month or the maximum rate permitted by law. Provider may suspend the Services on ten (10) days' written notice if any undisputed amount remains unpaid for more than forty-five (45) days.",
      "2.3 All fees are exclusive of sales, use and similar taxes, which Client shall pay, other than taxes on Provider's net income.",
      '# 3. Term and Renewal',
      '3.1 This Agreement commences on the Effective Date and continues for an initial term of two (2) years (the "Initial Term").',
      '3.2 Thereafter this Agreement automatically renews for successive renewal terms of one (1) year each (each a "Renewal Term"), unless either Party gives the other written notice of non-renewal at least sixty (60) days before the end of the then-current term.',
      "3.3 Either Party may terminate this Agreement for convenience on ninety (90) days' written notice to the other Party. Either Party may terminate this Agreement immediately on written notice if the other Party materially breaches it and fails to cure the breach within thirty (30) days after receiving notice describing the breach.",
      "3.4 On expiry or termination, Client shall pay for all Services performed up to the date of termination, and each Party shall return or destroy the other Party's Confidential Information.",
      '# 4. Confidentiality',
      '4.1 "Confidential Information" means all non-public information disclosed by one Party to the other in connection with this Agreement that is marked as confidential or would reasonably be understood to be confidential. Each Party shall use the other Party\'s Confidential Information only to perform its obligations under this Agreement and shall protect it with at least reasonable care.',
      '4.2 The obligations in this Section survive for three (3) years after expiry or termination of this Agreement.',
      '# 5. Intellectual Property',
      "5.1 Client owns all reports and other deliverables created specifically for Client under a Statement of Work, on payment in full. Provider retains all rights in its pre-existing tools, models and know-how, and grants Client a non-exclusive, perpetual licence to use any of them that are embedded in the deliverables for Client's internal business purposes.",
      '# 6. Warranties and Liability',
      '6.1 Provider warrants that the Services will be performed in a professional and workmanlike manner consistent with generally accepted industry standards.',
      "6.2 Except for breach of confidentiality or a Party's indemnity obligations, neither Party's total liability under this Agreement shall exceed the fees paid or payable by Client in the twelve (12) months preceding the event giving rise to the claim, and neither Party is liable for indirect, incidental or consequential damages.",
      '# 7. Notices',
      '7.1 Notices under this Agreement must be in writing and delivered by hand, by recognised courier or by email with confirmation of receipt, to the addresses above or to another address a Party designates by notice. Notices to Provider must be sent to the attention of the General Counsel; notices to Client to the attention of the Chief Operating Officer.',
      '# 8. Governing Law',
      '8.1 This Agreement is governed by and construed in accordance with the laws of the State of New York, without regard to its conflict of laws principles. The state and federal courts located in New York County, New York have exclusive jurisdiction over any dispute arising out of this Agreement.',
      '# 9. General',
      "9.1 This Agreement, together with all Statements of Work, is the entire agreement between the Parties on its subject matter. It may be amended only in a writing signed by both Parties. Neither Party may assign this Agreement without the other Party's prior written consent, except to a successor to all or substantially all of its business.",
      'IN WITNESS WHEREOF, the Parties have executed this Agreement as of the Effective Date.',
      'HARBOR LANE ANALYTICS, INC. By: Miriam Okafor, Chief Executive Officer',
      'CALDER & FINCH OUTFITTERS LLC By: Daniel Reyes-Whitcombe, Managing Member',
    ],
  },
  {
    file: 'software-license-agreement.pdf',
    title: 'SOFTWARE LICENSE AGREEMENT',
    blocks: [
      'This Software License Agreement (this "Agreement") is made on September 15, 2023 (the "Effective Date") between Quillon Systems Ltd, a company incorporated in England and Wales under company number 09876543 whose registered office is at 12 Tanner Row, York YO1 6JB, United Kingdom ("Licensor"), and Marigold Regional Health Partners, Inc., a Minnesota corporation whose principal place of business is 2200 Lakeshore Drive, Duluth, Minnesota 55802 ("Licensee").',
      '# 1. Definitions',
      '"Software" means Licensor\'s WardFlow patient scheduling software in object code form, including all updates Licensor provides under this Agreement. "Documentation" means Licensor\'s user and administrator guides for the Software. "Authorised Users" means Licensee\'s employees and contractors who use the Software for Licensee\'s internal operations, up to the number stated in Schedule 1.',
      '# 2. Licence Grant',
      "2.1 Subject to this Agreement and payment of the fees, Licensor grants Licensee a non-exclusive, non-transferable licence during the Term to install and use the Software at the hospital and clinic sites listed in Schedule 1, solely for Licensee's internal business purposes and by no more than the permitted number of Authorised Users.",
      '2.2 Licensee shall not (a) copy the Software except for reasonable backup purposes, (b) modify, translate or create derivative works of the Software, (c) reverse engineer or decompile the Software except to the extent the law expressly permits, or (d) sublicense, rent or make the Software available to any third party.',
      '# 3. Fees',
      '3.1 Licensee shall pay an annual licence fee of one hundred and eighty thousand US dollars (US$180,000), invoiced annually in advance on each anniversary of the Effective Date and payable within forty-five (45) days of the invoice date.',
      '3.2 Licensor may increase the annual licence fee for any Renewal Term by giving Licensee written notice at least one hundred and twenty (120) days before the start of that Renewal Term; no increase may exceed five percent (5%) of the fee for the preceding year.',
      '# 4. Support and Maintenance',
      '4.1 During the Term Licensor shall provide the support services described in Schedule 2, including telephone and email support between 7:00 and 19:00 Central Time on business days, and shall make available all updates and new releases of the Software that it makes generally available to its customers.',
      '4.2 Licensor shall respond to critical incidents within two (2) hours and use commercially reasonable efforts to provide a workaround within one (1) business day.',
      '# 5. Term and Renewal',
      '5.1 This Agreement begins on the Effective Date and continues for an initial term of three (3) years (the "Initial Term"). It then renews automatically for successive periods of twelve (12) months (each a "Renewal Term" and, together with the Initial Term, the "Term"), unless either party notifies the other in writing of its intention not to renew at least ninety (90) days before the expiry of the Initial Term or the then-current Renewal Term.',
      '5.2 Either party may terminate this Agreement with immediate effect by written notice if the other party commits a material breach that is incapable of remedy, or that is capable of remedy but is not remedied within thirty (30) days of written notice requiring it to be remedied, or if the other party becomes insolvent.',
      "5.3 On termination Licensee shall stop using the Software, uninstall it from all systems and certify in writing that it has done so. Licensor shall, at Licensee's request made within thirty (30) days of termination, export Licensee's scheduling data in a standard format.",
      '# 6. Audit',
      "6.1 Once in any twelve (12) month period, on at least fifteen (15) business days' notice, Licensor may audit Licensee's use of the Software to verify compliance with this Agreement. If an audit reveals use beyond the licensed number of Authorised Users, Licensee shall pay the additional fees at Licensor's then-current rates.",
      '# 7. Warranties',
      "7.1 Licensor warrants that for ninety (90) days from delivery the Software will perform substantially in accordance with the Documentation. Licensee's sole remedy for breach of this warranty is for Licensor to correct the defect or, if it cannot do so within a reasonable time, to refund the licence fees paid for the affected Software.",
      '# 8. Limitation of Liability',
      "8.1 Nothing in this Agreement limits liability for death or personal injury caused by negligence or for fraud. Subject to that, each party's total liability arising under or in connection with this Agreement in any contract year is limited to the licence fees paid in that contract year.",
      '# 9. Governing Law and Jurisdiction',
      '9.1 This Agreement and any dispute or claim arising out of or in connection with it are governed by the laws of England and Wales. The courts of England and Wales have exclusive jurisdiction to settle any such dispute or claim.',
      '# 10. Notices',
      '10.1 Any notice under this Agreement must be in writing and sent by registered post or email to the address of the other party set out above, marked for the attention of its company secretary or legal department. A notice sent by email is deemed received at 9:00 on the next business day.',
      'This Agreement has been entered into on the date stated at the beginning of it.',
      'Signed for QUILLON SYSTEMS LTD by Harriet Penhaligon, Director',
      'Signed for MARIGOLD REGIONAL HEALTH PARTNERS, INC. by Thomas Lindqvist, Chief Information Officer',
    ],
  },
  {
    file: 'distribution-agreement.pdf',
    title: 'EXCLUSIVE DISTRIBUTION AGREEMENT',
    blocks: [
      'This Exclusive Distribution Agreement (the "Agreement") is entered into effective as of January 8, 2025 (the "Effective Date") by and between Tidewater Ceramics Co., a North Carolina corporation located at 51 Kiln Road, Wilmington, North Carolina 28401 ("Supplier"), and Alpenrose Trading AG, a company organised under the laws of Switzerland located at Bahnhofstrasse 140, 8001 Zurich, Switzerland ("Distributor").',
      '# 1. Appointment',
      '1.1 Supplier appoints Distributor as its exclusive distributor of the stoneware and porcelain tableware listed in Exhibit A (the "Products") in Switzerland, Austria and Liechtenstein (the "Territory"), and Distributor accepts the appointment.',
      '1.2 During the Term Supplier shall not appoint any other distributor, agent or reseller for the Products in the Territory and shall refer to Distributor all enquiries for the Products it receives from customers in the Territory.',
      "1.3 Distributor shall not actively market or sell the Products outside the Territory and shall not sell products that compete directly with the Products without Supplier's prior written consent.",
      '# 2. Orders, Prices and Minimum Purchases',
      "2.1 Distributor shall purchase Products by written purchase order. Supplier shall accept or reject each purchase order within five (5) business days. Prices are those set out in Supplier's export price list in effect when the order is accepted, ex works Wilmington (Incoterms 2020).",
      "2.2 Supplier may change its export price list on sixty (60) days' written notice. Orders accepted before the change takes effect are invoiced at the previous prices.",
      '2.3 Distributor shall purchase Products with a total invoice value of at least four hundred thousand US dollars (US$400,000) in each contract year (the "Minimum Purchase Commitment"). If Distributor fails to meet the Minimum Purchase Commitment in any contract year, Supplier may, as its sole remedy, convert the appointment to a non-exclusive one on thirty (30) days\' written notice.',
      '2.4 Distributor shall pay each invoice within sixty (60) days of the date of shipment by wire transfer in US dollars.',
      '# 3. Marketing and Trademarks',
      '3.1 Distributor shall use its best efforts to promote and sell the Products throughout the Territory, maintain adequate stock to meet customer demand and attend at least one major trade fair in the Territory each year.',
      "3.2 Supplier grants Distributor a non-exclusive licence during the Term to use Supplier's trademarks in the Territory solely to advertise and sell the Products, in accordance with Supplier's brand guidelines.",
      '# 4. Term and Renewal',
      '4.1 This Agreement begins on the Effective Date and, unless terminated earlier, remains in force until December 31, 2027 (the "Initial Term").',
      '4.2 Upon expiration of the Initial Term, this Agreement shall renew automatically for successive renewal periods of two (2) years each, unless either party gives written notice of non-renewal to the other party no later than one hundred twenty (120) days prior to the expiration of the then-current term.',
      '4.3 Either party may terminate this Agreement on written notice if the other party materially breaches this Agreement and does not cure the breach within forty-five (45) days after written notice, or if the other party becomes insolvent or makes an assignment for the benefit of creditors.',
      '4.4 After expiry or termination Distributor may sell its remaining stock of Products for a period of six (6) months, subject to this Agreement, or Supplier may elect to repurchase that stock at the price Distributor paid for it.',
      '# 5. Product Warranty and Recalls',
      '5.1 Supplier warrants that the Products will be free from defects in materials and workmanship, will be lead-free and will comply with the food-contact regulations applicable in the Territory. Distributor shall notify Supplier of any defect within thirty (30) days of discovery.',
      "5.2 If any Product is subject to a recall, Distributor shall cooperate with Supplier and Supplier shall bear the reasonable costs of the recall unless it was caused by Distributor's improper storage or handling.",
      '# 6. Notices',
      '6.1 All notices must be in writing in the English language and delivered by international courier or email to the addresses stated above. Notices are effective on receipt.',
      '# 7. Governing Law and Disputes',
      '7.1 This Agreement shall be governed by and construed in accordance with the laws of the State of Delaware, United States of America, excluding the United Nations Convention on Contracts for the International Sale of Goods.',
      '7.2 Any dispute arising out of this Agreement shall be finally resolved by arbitration under the Rules of Arbitration of the International Chamber of Commerce by a sole arbitrator. The seat of arbitration is Geneva, Switzerland, and the language of the arbitration is English.',
      '# 8. Miscellaneous',
      '8.1 This Agreement is the entire agreement of the parties concerning its subject matter. Neither party may assign it without the prior written consent of the other party. No waiver of any breach is a waiver of any other breach.',
      'IN WITNESS WHEREOF, the parties have caused this Agreement to be executed by their duly authorised representatives as of the Effective Date.',
      'TIDEWATER CERAMICS CO. By: Lorraine Batts-Hollis, President',
      'ALPENROSE TRADING AG By: Jonas Vetterli, Geschaeftsfuehrer; and Anneliese Gruber, Prokuristin',
    ],
  },
];

async function render({ title, blocks }) {
  const pdf = await PDFDocument.create();
  pdf.setTitle(title);
  pdf.setCreator('docfleet scripts/make-samples.mjs');
  pdf.setProducer('pdf-lib');
  pdf.setCreationDate(FIXED_DATE);
  pdf.setModificationDate(FIXED_DATE);
  const regular = await pdf.embedFont(StandardFonts.TimesRoman);
  const bold = await pdf.embedFont(StandardFonts.TimesRomanBold);
  const width = PAGE.width - 2 * PAGE.margin;

  let page;
  let y = 0;
  const newPage = () => {
    page = pdf.addPage([PAGE.width, PAGE.height]);
    y = PAGE.height - PAGE.margin;
  };
  const line = (text, font, size, x = PAGE.margin) => {
    if (y < PAGE.margin + BODY.leading) newPage();
    y -= BODY.leading;
    page.drawText(text, { x, y, size, font });
  };

  newPage();
  const titleSize = 15;
  line(title, bold, titleSize, (PAGE.width - bold.widthOfTextAtSize(title, titleSize)) / 2);
  y -= BODY.leading;
  for (const block of blocks) {
    const heading = block.startsWith('# ');
    const font = heading ? bold : regular;
    // Keep a heading with the first lines of its section.
    if (heading && y < PAGE.margin + 4 * BODY.leading) newPage();
    for (const text of wrap(heading ? block.slice(2) : block, font, BODY.size, width)) line(text, font, BODY.size);
    y -= BODY.leading / 2;
  }

  const pages = pdf.getPages();
  pages.forEach((p, i) => {
    const footer = `Page ${i + 1} of ${pages.length}`;
    p.drawText(footer, {
      x: (PAGE.width - regular.widthOfTextAtSize(footer, 9)) / 2,
      y: PAGE.margin / 2,
      size: 9,
      font: regular,
    });
  });
  return pdf.save();
}

function wrap(text, font, size, width) {
  const lines = [];
  let current = '';
  for (const word of text.split(/\s+/)) {
    const candidate = current ? `${current} ${word}` : word;
    if (current && font.widthOfTextAtSize(candidate, size) > width) {
      lines.push(current);
      current = word;
    } else {
      current = candidate;
    }
  }
  if (current) lines.push(current);
  return lines;
}

for (const contract of contracts) {
  const bytes = await render(contract);
  writeFileSync(OUT + contract.file, bytes);
  const pages = (await PDFDocument.load(bytes)).getPageCount();
  console.log(`samples/${contract.file}: ${pages} pages, ${bytes.length} bytes`);
}
