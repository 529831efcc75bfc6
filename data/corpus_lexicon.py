"""The lexicon of the embedded concept corpus and its English morphology (used by ``make_corpus.py``).

Word lists are plain strings so that they are easy to extend. Noun entries are ``singular`` or
``singular/plural`` (irregular plural); verb entries are ``base`` or ``base/past/participle``
(irregular), followed by the polarity and the object frame, see ``_VERBS``. Standard library only.
"""
from __future__ import annotations

# --------------------------------------------------------------------------------------------
# Nouns
# --------------------------------------------------------------------------------------------

# people and animals ("p": can be the subject of any verb and the object of person verbs)
PERSONS = """teacher doctor student child/children man/men woman/women person/people farmer nurse pilot
artist writer singer actor lawyer judge baker driver neighbor friend manager worker soldier scientist
engineer player coach visitor guest king queen boy girl mother father brother sister uncle aunt chef poet
painter dancer sailor tourist clerk customer officer thief/thieves wife/wives policeman/policemen baby
hero boss host waiter author editor mayor gardener professor nephew niece cousin grandmother grandfather
husband princess prince captain doorman/doormen fisherman/fishermen dentist surgeon banker barber butcher
carpenter plumber farmer hunter priest nun monk tailor merchant miner musician pianist drummer guitarist
violinist reporter journalist photographer director producer designer architect librarian lecturer tutor
pupil classmate roommate colleague partner stranger traveler passenger rider runner swimmer climber
goalkeeper referee umpire fan critic judge jury gentleman/gentlemen lady teenager toddler orphan widow
bride groom landlord tenant shepherd knight wizard witch giant dwarf/dwarves elf/elves cook guide guard
spy/spies witness model patient local senior adult native criminal rival chief
accountant economist historian philosopher mathematician physicist chemist biologist astronaut
firefighter paramedic pharmacist veterinarian therapist psychologist counselor detective inspector
sheriff ranger lifeguard janitor cashier receptionist secretary assistant intern apprentice trainee
volunteer organizer campaigner activist senator governor minister ambassador diplomat president
chancellor emperor empress duke duchess baron countess servant butler maid nanny babysitter
comedian magician juggler acrobat clown puppeteer sculptor novelist playwright composer conductor
soprano tenor baritone ballerina choreographer cameraman/cameramen stuntman/stuntmen blacksmith
locksmith goldsmith jeweler florist grocer vendor peddler shopkeeper innkeeper bartender""".split()
ANIMALS = """dog cat horse bird wolf/wolves mouse/mice goose/geese sheep/sheep fox cow rabbit lion monkey
deer/deer ox/oxen tiger bear elephant donkey goat pig duck chicken owl eagle parrot snake frog turtle whale
dolphin shark fish/fish puppy kitten pony camel zebra giraffe squirrel hamster""".split()
# things: objects of thing verbs, subjects of copular and passive sentences
THINGS = """film song letter car house city garden meal story plan idea gift picture box bus dish
knife/knives leaf/leaves shelf/shelves potato tomato glass church party country table chair window door
bridge road river school hospital office shop market kitchen bottle cup bag coat shirt shoe hat phone
computer camera poem speech lesson game concert movie novel sandwich cake apple lamp key map ticket
village castle boat plane tree flower menu salad recipe essay museum hotel restaurant wallet ring toy
candle puzzle album garage jacket blanket pencil notebook envelope magazine newspaper diary calendar
clock mirror pillow sofa carpet curtain fridge oven kettle spoon fork plate bowl basket bucket ladder
hammer rope tent bicycle truck van helmet umbrella scarf/scarves glove sweater boot sock belt necklace bracelet
statue fountain tower palace cottage barn fence gate wall roof chimney staircase elevator tunnel island
mountain valley forest lake beach desert cave pond field farm harbor station airport library theater
stadium gallery bakery pharmacy prison factory laboratory cathedral temple sculpture portrait painting
drawing building recording wedding meeting reading opening ending feeling warning greeting offering
sandwich pie soup bread cheese cookie orange lemon banana melon onion carrot pepper egg pizza pasta
violin guitar piano drum trumpet radio television laptop printer keyboard screen battery engine
suitcase backpack passport license contract letter invoice receipt budget report article chapter
sentence paragraph question problem solution answer theory lecture exam course degree prize medal
trophy award towel sponge brush comb razor soap shampoo bandage needle thread button zipper pocket collar
sleeve wardrobe drawer cupboard cabinet closet mattress cushion quilt vase jar jug tray pan pot lid napkin
tablecloth candlestick lantern torch flashlight compass telescope microscope magnet battery cable wire plug
socket switch bulb antenna satellite rocket robot drone tractor wagon cart sled canoe kayak yacht ferry
submarine helicopter scooter motorcycle skateboard surfboard racket bat ball kite balloon puppet doll marble
dice chessboard jigsaw crayon marker eraser ruler stapler folder binder clipboard whiteboard chalk easel
canvas frame poster banner flag badge ribbon sticker stamp coin banknote cheque bracelet earring brooch
pendant locket tiara crown sword shield bow arrow spear axe saw drill wrench screwdriver shovel rake hoe
wheelbarrow hose sprinkler lawnmower greenhouse shed cabin hut igloo skyscraper lighthouse windmill
warehouse workshop studio apartment mansion villa bungalow farmhouse chapel mosque synagogue monastery
fortress pyramid monument arch pillar column dome balcony terrace porch patio cellar attic basement
corridor hallway lobby courtyard alley avenue boulevard highway motorway crossroads roundabout pavement
canal dam reservoir waterfall glacier volcano cliff canyon meadow orchard vineyard jungle swamp marsh
prairie hill peak ridge shore coast bay cape peninsula lagoon reef dune oasis spring stream creek brook
muffin croissant bagel pancake waffle biscuit cracker pretzel doughnut cupcake pudding custard yogurt
omelette sausage burger noodle dumpling taco burrito curry stew casserole risotto lasagna sushi kebab
pickle olive peach plum pear cherry grape mango pineapple coconut apricot strawberry raspberry blueberry
cucumber lettuce cabbage broccoli spinach garlic mushroom pumpkin zucchini radish turnip beetroot
almond walnut peanut chestnut hazelnut teapot mug goblet flask canteen thermos lunchbox saucepan
skillet blender toaster microwave dishwasher freezer heater fan radiator thermostat chandelier
headline bulletin brochure leaflet catalogue manual handbook dictionary encyclopedia atlas anthology
biography memoir journal textbook workbook notepad sketchbook scrapbook manuscript script screenplay
ballad anthem lullaby symphony sonata opera melody chorus verse riddle fable legend myth parable
documentary cartoon sitcom podcast broadcast blog website password spreadsheet database algorithm
telegram postcard parcel package crate barrel sack pouch purse briefcase""".split()
PLACES = """garden house city church park school hospital office shop market kitchen village castle hotel
restaurant museum library station theater forest beach lake mountain valley harbor airport stadium
gallery bakery factory cathedral palace cottage island field farm""".split()
EVENTS = """party concert game lesson walk ride race dance visit test review play cook fish meal speech
meeting wedding show match lecture festival ceremony
holiday trip journey storm war flood dinner breakfast lunch interview exam performance""".split()
NAMES = """Anna David Maria James Sofia Peter Laura Daniel Emma Thomas Lucy Oliver Sarah Michael Julia
Robert Alice George Grace Henry Clara Jack Helen Samuel Ruth Simon Nora Paul Rose Martin Eva Victor Irene
Lewis Hannah Oscar Mia Hugo Alma Felix Ella Arthur Zoe Leo Iris Max Nina Adam Lily Carl Vera Ben Tina
Sam Kate Tom Jane Ivan Olga Karl Amy Aaron Abigail Alan Albert Alex Andrew Angela Anne Barbara Bella
Bruno Caroline Charles Chloe Claire Colin Diana Dora Edward Elena Elliot Emil Eric Fiona Frank Freya
Gemma Gordon Harry Heidi Ian Ingrid Isaac Jacob Jasmine Joan Jonah Judith Julian Kevin Leah Linda Louis
Lydia Marcus Marta Megan Miriam Nathan Neil Noah Owen Patrick Philip Rachel Rebecca Rita Roger Rosa
Rupert Sandra Sean Silvia Stella Steven Teresa Theo Ursula Walter Wendy Xavier Yusuf Zara Will Drew Hope
Olive Pat Mark Bill Joy June""".split()
SURNAMES = """Smith Jones Brown Taylor Wilson Evans Walker Wright Robinson Thompson White Hughes Edwards Green
Hall Wood Harris Martin Jackson Clarke Clark Turner Hill Scott Cooper Morris Ward Moore King Watson Baker
Harrison Morgan Patel Young Allen Mitchell Lee Kelly Bell Parker Davies Bennett Price Bailey Cox Russell
Murphy Fisher Webb Rogers Reed Marshall Hunt Palmer Mills Holmes Lloyd Grant Knight Stone Ross Fox Rose
Ellis Carter Dixon Mason Gray Berg Novak Rossi Schmidt Weber Dubois Garcia Lopez Silva Kowalski Jensen
Park Cook Black Long Strong Rich Short Sharp Fields Lake Rivers Brooks Bird Wolf Fish Glass Church Bridges
Waters Singer Painter Carpenter Butcher Farmer Hunter""".split()
CITIES = """Paris London Rome Berlin Madrid Vienna Prague Lisbon Dublin Oslo Boston Chicago Denver Dallas
Tokyo Seoul Cairo Lima Sydney Toronto Athens Warsaw Munich Milan Geneva Venice Naples Seattle Austin
Houston Miami Atlanta Phoenix Montreal Vancouver Mumbai Delhi Bangkok Manila Nairobi Lagos Accra
Dakar Tunis Algiers Casablanca Istanbul Ankara Tehran Baghdad Beirut Amman Riyadh Dubai Karachi Lahore
Dhaka Kathmandu Colombo Hanoi Jakarta Singapore Beijing Shanghai Osaka Kyoto Busan Taipei Melbourne Perth
Auckland Wellington Santiago Bogota Quito Caracas Havana Panama Brussels Amsterdam Rotterdam Hamburg
Cologne Zurich Stockholm Helsinki Copenhagen Riga Vilnius Tallinn Budapest Bucharest Sofia Belgrade
Zagreb Krakow Seville Valencia Porto Marseille Lyon Florence Turin Glasgow Edinburgh Manchester Leeds""".split()

# --------------------------------------------------------------------------------------------
# Verbs: "base[/past/participle],polarity,frame"
#   polarity: + - 0; frame: p (person/animal object), t (thing object), a (any object), i (intransitive)
# --------------------------------------------------------------------------------------------
_VERBS = """praise,+,a admire,+,a coach,+,p nurse,+,p host,+,p judge,0,p pilot,0,t spy,0,p witness,0,t
model,0,t tutor,0,p help,+,p thank,+,p love,+,a enjoy,+,t support,+,a reward,+,p celebrate,+,t
welcome,+,p encourage,+,p protect,+,a rescue,+,p respect,+,p trust,+,p appreciate,+,a comfort,+,p
cherish,+,a applaud,+,p honor,+,p amaze,+,p delight,+,p inspire,+,p charm,+,p amuse,+,p adore,+,a
hug,+,p kiss,+,p cheer,+,p
insult,-,p hate,-,a ruin,-,t blame,-,p criticize,-,a attack,-,a betray,-,p ignore,-,a destroy,-,t
damage,-,t mock,-,p threaten,-,p annoy,-,p cheat,-,p neglect,-,a spoil,-,t steal/stole/stolen,-,t
break/broke/broken,-,t hurt/hurt/hurt,-,p waste,-,t reject,-,a abandon,-,a scold,-,p bore,-,p
disappoint,-,p frighten,-,p terrify,-,p shock,-,p bully,-,p rob,-,p kick,-,a punish,-,p upset/upset/upset,-,p
tear/tore/torn,-,t burn,-,t lose/lost/lost,-,a forget/forgot/forgotten,-,a
see/saw/seen,0,a visit,0,a meet/met/met,0,p carry,0,t find/found/found,0,a watch,0,a read/read/read,0,t
write/wrote/written,0,t buy/bought/bought,0,t sell/sold/sold,0,t bring/brought/brought,0,a take/took/taken,0,a
open,0,t close,0,t call,0,p follow,0,a paint,0,t cook,0,t move,0,t hold/held/held,0,t describe,0,a
notice,0,a remember,0,a check,0,t order,0,t build/built/built,0,t draw/drew/drawn,0,t choose/chose/chosen,0,a
leave/left/left,0,a keep/kept/kept,0,t show/showed/shown,0,t wash,0,t push,0,t fix,0,t teach/taught/taught,0,p
ask,0,p book,0,t play,0,t film,0,a photograph,0,a record,0,t plant,0,t park,0,t ship,0,t mail,0,t
email,0,p text,0,p copy,0,t print,0,t test,0,a review,0,t study,0,t answer,0,p question,0,p picture,0,a
map,0,t water,0,t drive/drove/driven,0,t ride/rode/ridden,0,t fly/flew/flown,0,t feed/fed/fed,0,a
catch/caught/caught,0,a throw/threw/thrown,0,t shoot/shot/shot,0,a pay/paid/paid,0,p send/sent/sent,0,t
lend/lent/lent,0,t spend/spent/spent,0,t cut/cut/cut,0,t put/put/put,0,t set/set/set,0,t hit/hit/hit,0,a
wear/wore/worn,0,t hide/hid/hidden,0,a shake/shook/shaken,0,t wake/woke/woken,0,p bite/bit/bitten,0,a
freeze/froze/frozen,0,t sing/sang/sung,0,t hear/heard/heard,0,a tell/told/told,0,p understand/understood/understood,0,a
sweep/swept/swept,0,t dig/dug/dug,0,t hang/hung/hung,0,t light/lit/lit,0,t lead/led/led,0,a grow/grew/grown,0,t
sew/sewed/sewn,0,t weave/wove/woven,0,t bake,0,t boil,0,t fry,0,t clean,0,t dry,0,t fill,0,t empty,0,t
count,0,a measure,0,t weigh,0,a touch,0,a guard,0,a dress,0,p interview,0,p train,0,p guide,0,p
greet,0,p invite,0,p hire,0,p pack,0,t lock,0,t load,0,t repair,0,t use,0,t need,0,a want,0,a like,0,a
have/had/had,0,t do/did/done,0,t give/gave/given,0,t pick,0,t turn,0,t hand,0,t
smile,+,i laugh,+,i succeed,+,i thrive,+,i shine/shone/shone,+,i relax,+,i celebrate,+,i
complain,-,i cry,-,i fail,-,i suffer,-,i struggle,-,i panic/panicked/panicked,-,i collapse,-,i quit/quit/quit,-,i
arrive,0,i sleep/slept/slept,0,i wait,0,i sit/sat/sat,0,i walk,0,i run/ran/run,0,i swim/swam/swum,0,i
travel/traveled/traveled,0,i talk,0,i work,0,i stay,0,i return,0,i dance,0,i jump,0,i rest,0,i
shop,0,i jog,0,i swim/swam/swum,0,i race,0,i sail,0,i rain,0,i snow,0,i stop,0,i start,0,i camp,0,i
fish,0,i hunt,0,i kneel/knelt/knelt,0,i sneeze,0,i yawn,0,i whisper,0,i shout,0,i sing/sang/sung,0,i
dream/dreamed/dreamed,0,i listen,0,i pray,0,i vote,0,i climb,0,i look,0,i mentor,+,p partner,0,p champion,+,a escort,0,p
suspect,0,a star,0,t captain,0,t kid,0,p excite,+,p fascinate,+,p please,+,p thrill,+,p move,+,p
care,+,i tire,-,p disgust,-,p confuse,-,p worry,-,p irritate,-,p depress,-,p embarrass,-,p lie,-,i
interest,+,p warm,0,t clear,0,t calm,+,p free,+,p referee,0,t
accept,0,a add,0,t adjust,0,t admit,0,a adopt,0,a arrange,0,t attract,0,a avoid,0,a
bake,0,t balance,0,t bathe,0,p borrow,0,t brush,0,t bury,0,t calculate,0,t capture,0,a carve,0,t
chase,0,a chop,0,t collect,0,t compare,0,a complete,0,t consider,0,a contact,0,p cover,0,t crack,0,t
create,0,t cross,0,t decorate,0,t deliver,0,t design,0,t discover,0,a discuss,0,a display,0,t
divide,0,t drag,0,t earn,0,t edit,0,t employ,0,p examine,0,a expect,0,a explain,0,t explore,0,t
fold,0,t gather,0,t grab,0,t heat,0,t identify,0,a imagine,0,a inspect,0,t install,0,t introduce,0,p
join,0,a kidnap,-,p label,0,t lift,0,t mention,0,a mix,0,t name,0,a observe,0,a obtain,0,t own,0,t
pass,0,a peel,0,t pick,0,t place,0,t polish,0,t pour,0,t prepare,0,t present,0,t press,0,t prevent,0,t
produce,0,t publish,0,t pull,0,t raise,0,a reach,0,a receive,0,t recognize,0,a recommend,0,a
remove,0,t rent,0,t replace,0,a report,0,a request,0,t rescue,+,p roll,0,t rub,0,t save,+,a scan,0,t
search,0,t select,0,a serve,0,a share,0,t shift,0,t sign,0,t slice,0,t sort,0,t split/split/split,0,t
squeeze,0,t stack,0,t stir,0,t store,0,t stretch,0,t supply,0,t surround,0,a switch,0,t tag,0,t
taste,0,t thaw,0,t tie,0,t tow,0,t trace,0,t track,0,a trade,0,t transport,0,a trap,0,a treat,0,a
trim,0,t type,0,t unlock,0,t unpack,0,t update,0,t visit,0,a weigh,0,a wipe,0,t wrap,0,t
bless,+,p befriend,+,p cure,+,p entertain,+,p forgive/forgave/forgiven,+,p heal,+,p impress,+,p
inspire,+,p reassure,+,p satisfy,+,p soothe,+,p value,+,a
accuse,-,p bother,-,p condemn,-,a corrupt,-,a deceive,-,p disturb,-,p exploit,-,a harass,-,p harm,-,a
humiliate,-,p injure,-,p offend,-,p poison,-,a scare,-,p smash,-,t sabotage,-,t torment,-,p wreck,-,t
bark,0,i blink,0,i bounce,0,i breathe,0,i chat,0,i cough,0,i crawl,0,i dive,0,i drift,0,i float,0,i
frown,-,i giggle,+,i glow,+,i grin,+,i hesitate,0,i hurry,0,i kneel/knelt/knelt,0,i march,0,i nod,0,i
pause,0,i rise/rose/risen,0,i roar,0,i shiver,0,i sigh,0,i sink/sank/sunk,0,i skate,0,i ski,0,i
slide/slid/slid,0,i smoke,0,i sneak,0,i spin/spun/spun,0,i stumble,0,i surf,0,i sweat,0,i tremble,0,i
wander,0,i wave,0,i weep/wept/wept,-,i whistle,0,i wink,0,i worry,-,i"""
VERB_ENTRIES = [tuple(v.split(",")) for v in _VERBS.split()]

# person nouns that are also verbs or adjectives ("the cooks" / "she cooks", "a patient nurse")
AMBIGUOUS_PERSONS = """cook guide guard spy/spies witness model patient local senior adult native criminal rival chief
judge coach nurse host pilot tutor referee bully cheat mentor partner champion star kid captain escort
suspect""".split()
# verbs whose base form is also a count noun used in noun slots (book, watch, water, plays, runs ...)
NOUN_VERBS = set("""watch book play film photograph record plant park ship mail email text copy print test
review study answer question picture map water drive ride hug kiss cheer insult attack waste shock kick
walk run dance jump rest shop race dream call order check visit plan paint cook show dress train guard
smile laugh cry fish work trip hand turn pick light rain snow stop start camp sail hunt
vote climb look email print balance brush cover crack design display label mix name pass place
present report request roll scan search share shift sign slice sort split squeeze stack store stretch supply
switch tag taste trace track trade transport trap treat trim type update wrap wave whistle wink smoke ski
skate surf sigh roar pause nod march float dive chat bark cough blink bounce drift frown grin glow sweat
cure value harm poison wreck smash torment heat lift pull push wash fix kick attack hug kiss cheer race
dress guard hunt spy witness model judge coach nurse host pilot tutor referee crawl wander""".split())
# phrasal verbs: verb + particle (ADP RP compound:prt), all transitive on things
PHRASAL = """pick,up give,up put,down write,down take,off turn,off turn,on throw,away give,back bring,back
clean,up fill,out set,up look,up hand,over""".split()
# -ing nouns (singular only): "the painting", "their cooking"
ING_NOUNS = """painting drawing building recording reading opening ending feeling warning greeting offering
meeting wedding cooking shopping swimming running dancing singing training writing teaching fishing
hunting camping sailing parking printing washing cleaning baking climbing""".split()
GIVING_VERBS = set("give send lend sell show bring hand mail email pay read write teach offer deliver pass".split())
# adverbs after intransitive verbs: "ran away", "looked up"
PARTICLE_ADVERBS = "up down out off over back away around in on by near behind".split()
SPEECH_VERBS = """say/said/said think/thought/thought know/knew/known hope believe feel/felt/felt
hear/heard/heard notice remember""".split()

# --------------------------------------------------------------------------------------------
# Adjectives and adverbs
# --------------------------------------------------------------------------------------------
POS_ADJ = """brilliant wonderful excellent lovely delightful beautiful superb marvelous amazing charming
inspiring exciting fascinating pleasing thrilling touching moving rewarding encouraging welcoming relaxing
interesting fabulous terrific glorious stunning sublime radiant dazzling exquisite enchanting adorable
admirable remarkable outstanding impressive joyful""".split()
POS_ADJ_P = """kind generous brave clever friendly gentle talented cheerful helpful honest patient caring
loving sincere thoughtful considerate devoted faithful cheerful warmhearted""".split()
NEG_ADJ = """awful terrible horrible boring annoying disappointing shocking disgusting frightening tiring
terrifying insulting threatening upsetting confusing worrying irritating depressing embarrassing hideous
ghastly appalling atrocious vile wretched gloomy dreary tedious filthy rotten pathetic lousy grim""".split()
NEG_ADJ_P = """cruel rude lazy dishonest selfish careless stupid greedy arrogant hostile mean lying
jealous vicious cowardly spoiled snobbish nosy bossy sneaky""".split()
NEUTRAL_ADJ_P = """young old tall short local quiet busy foreign senior new sleeping missing famous elderly
teenage retired married single blond bearded skinny sleepy hungry thirsty curious nervous shy calm
serious silent anxious sick healthy wealthy poor rich strong weak adult native""".split()
NEUTRAL_ADJ_T = """old new small big red green heavy empty wooden long large blue yellow white black round
square flat thin thick narrow wide running rising cold warm fast hard late early clean dry empty open
pretty clear calm free plastic metal silver golden glass paper cotton leather woolen silk purple orange
pink brown gray dark bright shiny dusty muddy wet soft sharp smooth rough tiny huge giant enormous
ancient modern antique broken cracked fresh ripe frozen spicy sweet sour salty bitter crispy juicy
empty full heavy light loud noisy silent hidden secret famous rare expensive cheap spare extra""".split()
NEUTRAL_PRED = """old new small big quiet large empty heavy ready busy late early open clean dry warm clear
calm free""".split()
# -ed adjectives after the copula: "the guests were delighted" (positive) / "were disappointed" (negative)
POS_ED_ADJ = "delighted pleased amazed inspired amused thrilled".split()
NEG_ED_ADJ = "disappointed annoyed bored frightened terrified shocked upset".split()
NEUTRAL_ED_ADJ = "tired surprised interested worried married excited".split()
POS_ADV = """warmly kindly gladly gracefully generously patiently cheerfully beautifully wisely gently
bravely honestly proudly lovingly tenderly brilliantly""".split()
NEG_ADV = """rudely badly carelessly angrily lazily cruelly clumsily selfishly foolishly bitterly
viciously stupidly coldly harshly sloppily""".split()
# manner adverbs; the first ones are also adjectives ("drove fast" / "a fast car")
NEUTRAL_ADV = """fast hard late early quickly slowly quietly loudly carefully again calmly silently
suddenly briefly openly secretly slowly firmly softly""".split()
ADJ_ADV = "fast hard late early pretty".split()  # adjectives that are also adverbs
INTENSIFIERS = "very really quite so too pretty".split()
TIME_ADV = {  # (words, UPOS of each word); one adverbial per clause
    "Past": ["yesterday", "last week", "last year", "once", "two days ago", "this morning"],
    "Pres": ["now", "usually", "often", "every day", "always", "sometimes"],
    "Fut": ["tomorrow", "next week", "next year", "tonight", "soon", "on Monday"],
}
SUBORDINATORS = "before after because when while if although since until".split()
PLACE_PREPS = "in near behind at outside inside beside around over under to by".split()
EVENT_PREPS = "after before during since until".split()
NP_PREPS = {"p": ["with", "from", "near", "behind", "like"], "t": ["on", "near", "from", "behind", "under", "in", "for",
                                                         "to", "of", "with"]}

# --------------------------------------------------------------------------------------------
# Function words and time adverbials
# --------------------------------------------------------------------------------------------
PRONOUNS = {  # form: (Number or None, Person); "you" is unmarked for Number, as in UD EWT
    "I": ("Sing", "1"), "you": (None, "2"), "he": ("Sing", "3"), "she": ("Sing", "3"),
    "it": ("Sing", "3"), "we": ("Plur", "1"), "they": ("Plur", "3"),
}
OBJ_PRONOUNS = {"me": ("Sing", "1"), "you": (None, "2"), "him": ("Sing", "3"), "her": ("Sing", "3"),
                "us": ("Plur", "1"), "them": ("Plur", "3")}
POSSESSIVES = {"my": ("Sing", "1"), "our": ("Plur", "1"), "his": ("Sing", "3"), "her": ("Sing", "3"),
               "their": ("Plur", "3"), "your": (None, "2")}
DEMONSTRATIVES = {"Sing": ["this", "that"], "Plur": ["these", "those"]}
ART, DEM = {"PronType": "Art"}, {"PronType": "Dem"}
DETERMINERS = {  # form: (UPOS, XPOS, FEATS, weight), by the noun's number
    "Sing": {"the": ("DET", "DT", {"Definite": "Def", **ART}, 8), "a": ("DET", "DT", {"Definite": "Ind", **ART}, 4),
             "this": ("DET", "DT", {"Number": "Sing", **DEM}, 1), "that": ("DET", "DT", {"Number": "Sing", **DEM}, 1),
             "every": ("DET", "DT", {"PronType": "Tot"}, 1), "one": ("NUM", "CD", {"NumType": "Card"}, 1)},
    "Plur": {"the": ("DET", "DT", {"Definite": "Def", **ART}, 8), "these": ("DET", "DT", {"Number": "Plur", **DEM}, 1),
             "those": ("DET", "DT", {"Number": "Plur", **DEM}, 1), "some": ("DET", "DT", {"PronType": "Ind"}, 2),
             "all": ("DET", "DT", {"PronType": "Tot"}, 1), "many": ("ADJ", "JJ", {"Degree": "Pos"}, 1),
             "several": ("ADJ", "JJ", {"Degree": "Pos"}, 1), "two": ("NUM", "CD", {"NumType": "Card"}, 1),
             "three": ("NUM", "CD", {"NumType": "Card"}, 1), "five": ("NUM", "CD", {"NumType": "Card"}, 1),
             "twenty": ("NUM", "CD", {"NumType": "Card"}, 1), "#": (None, None, None, 1),  # "#": digits
             "": (None, None, None, 2)},  # "": bare plural
}
DET_DEPREL = {"DET": "det", "ADJ": "amod", "NUM": "nummod"}
# time adverbials: tokens (form, upos, xpos, feats, deprel, head offset within the phrase or None = the clause)
_SING = {"Number": "Sing"}
TIME_PHRASES = {
    "yesterday": [("yesterday", "NOUN", "NN", _SING, "obl:tmod", None)],
    "tomorrow": [("tomorrow", "NOUN", "NN", _SING, "obl:tmod", None)],
    "tonight": [("tonight", "NOUN", "NN", _SING, "obl:tmod", None)],
    "last week": [("last", "ADJ", "JJ", {"Degree": "Pos"}, "amod", 1), ("week", "NOUN", "NN", _SING, "obl:tmod", None)],
    "last year": [("last", "ADJ", "JJ", {"Degree": "Pos"}, "amod", 1), ("year", "NOUN", "NN", _SING, "obl:tmod", None)],
    "next week": [("next", "ADJ", "JJ", {"Degree": "Pos"}, "amod", 1), ("week", "NOUN", "NN", _SING, "obl:tmod", None)],
    "next year": [("next", "ADJ", "JJ", {"Degree": "Pos"}, "amod", 1), ("year", "NOUN", "NN", _SING, "obl:tmod", None)],
    "two days ago": [("two", "NUM", "CD", {"NumType": "Card"}, "nummod", 1),
                     ("days", "NOUN", "NNS", {"Number": "Plur"}, "obl:npmod", 1),
                     ("ago", "ADV", "RB", {}, "advmod", None)],
    "this morning": [("this", "DET", "DT", {"Number": "Sing", **DEM}, "det", 1),
                     ("morning", "NOUN", "NN", _SING, "obl:tmod", None)],
    "every day": [("every", "DET", "DT", {"PronType": "Tot"}, "det", 1),
                  ("day", "NOUN", "NN", _SING, "obl:tmod", None)],
    "on Monday": [("on", "ADP", "IN", {}, "case", 1), ("Monday", "PROPN", "NNP", _SING, "obl", None)],
}

# --------------------------------------------------------------------------------------------
# Morphology
# --------------------------------------------------------------------------------------------
DOUBLE = set("stop plan drop shop jog hug rob ship grab skip chat beg nod admit regret prefer permit commit "
             "dig swim run sit get cut put set hit upset kid bat map grin stir trim tag drag wrap rub chop scan trap "
             "kidnap step clap pat plug slip spot star".split())


def plural(noun: str) -> str:
    """Regular English plural (irregular ones are listed in the lexicon)."""
    if noun.endswith(("s", "sh", "ch", "x", "z")) or noun in {"potato", "tomato", "hero", "volcano", "echo"}:
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def third_singular(verb: str) -> str:
    """Present tense, third person singular (-s form)."""
    if verb == "have":
        return "has"
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def regular_past(verb: str) -> str:
    """Regular past tense and participle (-ed form)."""
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ied"
    if verb in DOUBLE:
        return verb + verb[-1] + "ed"
    return verb + "ed"


def present_participle(verb: str) -> str:
    """The -ing form."""
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")) and verb != "be":
        return verb[:-1] + "ing"
    if verb in DOUBLE:
        return verb + verb[-1] + "ing"
    return verb + "ing"


def nouns(entries: list[str]) -> list[tuple[str, str]]:
    """(singular, plural) pairs, duplicates dropped."""
    out = []
    for e in dict.fromkeys(entries):
        sing, _, plur = e.partition("/")
        out.append((sing, plur or plural(sing)))
    return out


def verb_table() -> list[dict]:
    """One dict per verb: base, s, past, pp, ing, pol (+1/-1/0), obj (p/t/a or "" intransitive), noun."""
    table, seen = [], set()
    for entry, pol, frame in VERB_ENTRIES:
        base, *irr = entry.split("/")
        if (base, frame == "i") in seen:
            continue
        seen.add((base, frame == "i"))
        past, pp = irr if irr else (regular_past(base),) * 2
        table.append({"base": base, "s": third_singular(base), "past": past, "pp": pp,
                      "ing": present_participle(base), "pol": {"+": 1, "-": -1, "0": 0}[pol],
                      "obj": "" if frame == "i" else frame, "noun": base in NOUN_VERBS})
    return table


def speech_verbs() -> list[dict]:
    out = []
    for entry in SPEECH_VERBS:
        base, *irr = entry.split("/")
        past, pp = irr if irr else (regular_past(base),) * 2
        out.append({"base": base, "s": third_singular(base), "past": past, "pp": pp,
                    "ing": present_participle(base), "pol": 0, "obj": "c", "noun": False})
    return out
