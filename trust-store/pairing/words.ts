// The 256 words of a pairing code, one byte each. Chosen to be read out across a loud stage and
// typed by someone who only heard them: common concrete English words of 4–6 letters, no
// homophones (no beach/beech, desert/dessert, jeans/genes), no silent letters or British/US
// spelling splits (harbor, humor, island, autumn were dropped), nothing grim.
// Three properties the parser relies on, checked by test/trust-store/pairing/code.test.ts:
//   - every word has its own first three letters, so any prefix of 3+ letters names one word;
//   - any two words differ by at least 3 edits (insert, delete, substitute, swap neighbours),
//     so a word with one slip is still nearer to the intended word than to any other;
//   - no word with one slip is a prefix of another word (swan/sandal: "san"), so a slip is
//     never mistaken for an abbreviation.
// Changing this list changes what every code means: never reorder or edit it in place; a new
// list needs a new protocol version in context.ts.
export const WORDS: readonly string[] = Object.freeze(
  `
  acorn agent alarm alien alpha amber anchor angel apple arrow atlas attic audio badge baker
  bamboo banjo barrel basil beacon bison bloom bonus boost border bottle brain bread brick bronze
  brush bubble bucket butter cabin cactus camel candle cargo cedar cement chalk cherry cinema
  circus clay cliff clock coach cobalt comic condor copper cotton cowboy crane credit cube cycle
  daisy dance dart delta denim dingo doctor domino donkey dragon drift drum eagle echo elbow elder
  empire engine escape exam expert fabric falcon feast fever fiddle field figure filter finch
  flame flint forest fossil fridge fruit funnel galaxy garden giant ginger glass globe gold gravy
  grill guitar helmet herb hippo hobby hotel husky hybrid igloo image index infant insect ivory
  jaguar jelly jester jewel jigsaw jingle juice jury kayak kiosk kitten kiwi koala ladder lagoon
  lava lemon lilac liquid lizard lunar lyric magic marble mask meadow metal mirror mosaic muffin
  museum napkin nebula nectar needle ninja noble north nugget nutmeg nylon ocean octave olive
  omega onion outlet oxygen pagoda palace pasta peanut pencil pickle pilot pirate pixel pizza poem
  polar poppy potato prism pulse puppet puzzle quartz queen quilt rabbit radish raven razor recipe
  reef remote rhino ribbon robot rodeo rookie rubber rugby runway rustic safari salad sandal scarf
  signal siren sketch skunk slogan snack snow soccer spider sponge spruce stamp stereo storm
  summit sunset syrup target teapot tennis topaz tower trophy tulip tundra turtle tuxedo twig
  urban utopia valley vessel viking violin viper vortex voyage waffle walnut wheat widget willow
  wombat yoga zebra zenith zigzag zodiac
`
    .trim()
    .split(/\s+/),
);
