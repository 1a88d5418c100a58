"""Public-domain text that the corpus builder's speech synthesizer reads (``whisper_gpt_hf.audio.corpus``).

Short excerpts of classic literature, founding documents, fables and proverbs, grouped by espeak-ng language code.
Everything here is in the public domain: works of authors dead for well over 70 years, or official texts of
constitutions and declarations. It lives in a Python module rather than in data files so that it ships with every
install of the package without package-data configuration.

The builder splits each passage into sentences (long ones at commas) and draws them with a seeded RNG; the text itself
is never modified at run time.
"""

from __future__ import annotations

TEXTS: dict[str, list[str]] = {
    "en": [
        # Declaration of Independence (1776)
        "When in the Course of human events, it becomes necessary for one people to dissolve the political bands which "
        "have connected them with another, and to assume among the powers of the earth, the separate and equal station "
        "to which the Laws of Nature and of Nature's God entitle them, a decent respect to the opinions of mankind "
        "requires that they should declare the causes which impel them to the separation. We hold these truths to be "
        "self-evident, that all men are created equal, that they are endowed by their Creator with certain unalienable "
        "Rights, that among these are Life, Liberty and the pursuit of Happiness.",
        # Constitution of the United States, preamble (1787)
        "We the People of the United States, in Order to form a more perfect Union, establish Justice, insure domestic "
        "Tranquility, provide for the common defence, promote the general Welfare, and secure the Blessings of Liberty "
        "to ourselves and our Posterity, do ordain and establish this Constitution for the United States of America.",
        # Abraham Lincoln, Gettysburg Address (1863)
        "Four score and seven years ago our fathers brought forth on this continent, a new nation, conceived in "
        "Liberty, and dedicated to the proposition that all men are created equal. Now we are engaged in a great civil "
        "war, testing whether that nation, or any nation so conceived and so dedicated, can long endure. We are met on "
        "a great battle-field of that war. It is altogether fitting and proper that we should do this. The world will "
        "little note, nor long remember what we say here, but it can never forget what they did here.",
        # Charles Dickens, A Tale of Two Cities (1859)
        "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness, "
        "it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, it was the season of "
        "Darkness, it was the spring of hope, it was the winter of despair.",
        # Jane Austen, Pride and Prejudice (1813)
        "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of "
        "a wife. However little known the feelings or views of such a man may be on his first entering a "
        "neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is "
        "considered the "
        "rightful property of some one or other of their daughters.",
        # Herman Melville, Moby-Dick (1851)
        "Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse, and "
        "nothing particular to interest me on shore, I thought I would sail about a little and see the watery part of "
        "the world. It is a way I have of driving off the spleen and regulating the circulation.",
        # Lewis Carroll, Alice's Adventures in Wonderland (1865)
        "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do. Once "
        "or twice she had peeped into the book her sister was reading, but it had no pictures or conversations in it. "
        "And what is the use of a book, thought Alice, without pictures or conversations? Suddenly a White Rabbit with "
        "pink eyes ran close by her.",
        # Aesop, The North Wind and the Sun
        "The North Wind and the Sun were disputing which was the stronger, when a traveler came along "
        "wrapped in a warm "
        "cloak. They agreed that the one who first succeeded in making the traveler take his cloak off should be "
        "considered stronger than the other. Then the North Wind blew as hard as he could, but the more he blew the "
        "more closely did the traveler fold his cloak around him; and at last the North Wind gave up the attempt. Then "
        "the Sun shined out warmly, and immediately the traveler took off his cloak. And so the North Wind was obliged "
        "to confess that the Sun was the stronger of the two.",
        # Aesop, The Hare and the Tortoise
        "A Hare was making fun of the Tortoise one day for being so slow. Do you ever get anywhere? he asked with a "
        "mocking laugh. Yes, replied the Tortoise, and I get there sooner than you think. I will run you a race and "
        "prove it.",
        # Arthur Conan Doyle, A Scandal in Bohemia (1891)
        "To Sherlock Holmes she is always the woman. I have seldom heard him mention her under any other name. In his "
        "eyes she eclipses and predominates the whole of her sex.",
        # Henry David Thoreau, Walden (1854)
        "I went to the woods because I wished to live deliberately, to front only the essential facts of life, and see "
        "if I could not learn what it had to teach, and not, when I came to die, discover that I had not lived.",
        # Charlotte Bronte, Jane Eyre (1847)
        "There was no possibility of taking a walk that day. We had been wandering, indeed, in the leafless shrubbery "
        "an hour in the morning; but since dinner the wind had driven the sky so cloudy, and a rain so "
        "penetrating, that "
        "further out-door exercise was now out of the question.",
        # William Shakespeare, Sonnet 18
        "Shall I compare thee to a summer's day? Thou art more lovely and more temperate. Rough winds do shake the "
        "darling buds of May, and summer's lease hath all too short a date.",
        # Proverbs, many from Benjamin Franklin's Poor Richard's Almanack
        "Early to bed and early to rise, makes a man healthy, wealthy and wise. Well done is better than well said. "
        "Lost time is never found again. Little strokes fell great oaks. Haste makes waste. A stitch in time "
        "saves nine. "
        "Actions speak louder than words. Where there is a will, there is a way.",
        # Abraham Lincoln, Second Inaugural Address (1865)
        "With malice toward none, with charity for all, with firmness in the right as God gives us to see the right, "
        "let us strive on to finish the work we are in.",
        # Emily Dickinson (c. 1861)
        "Hope is the thing with feathers that perches in the soul, and sings the tune without the words, and never "
        "stops at all.",
    ],
    "de": [
        # Grundgesetz, Artikel 1 bis 3
        "Die Würde des Menschen ist unantastbar. Sie zu achten und zu schützen ist Verpflichtung aller staatlichen "
        "Gewalt. Das Deutsche Volk bekennt sich darum zu unverletzlichen und unveräußerlichen Menschenrechten als "
        "Grundlage jeder menschlichen Gemeinschaft, des Friedens und der Gerechtigkeit in der Welt. Jeder "
        "hat das Recht "
        "auf die freie Entfaltung seiner Persönlichkeit. Alle Menschen sind vor dem Gesetz gleich. Männer und Frauen "
        "sind gleichberechtigt.",
        # Johann Wolfgang von Goethe, Erlkönig (1782)
        "Wer reitet so spät durch Nacht und Wind? Es ist der Vater mit seinem Kind. Er hat den Knaben wohl in dem Arm, "
        "er fasst ihn sicher, er hält ihn warm. Mein Sohn, was birgst du so bang dein Gesicht? Siehst, Vater, du den "
        "Erlkönig nicht?",
        # Franz Kafka, Die Verwandlung (1915)
        "Als Gregor Samsa eines Morgens aus unruhigen Träumen erwachte, fand er sich in seinem Bett zu einem "
        "ungeheueren Ungeziefer verwandelt. Er lag auf seinem panzerartig harten Rücken und sah, wenn er den Kopf ein "
        "wenig hob, seinen gewölbten, braunen, von bogenförmigen Versteifungen geteilten Bauch.",
        # Brüder Grimm, Der Froschkönig
        "In den alten Zeiten, wo das Wünschen noch geholfen hat, lebte ein König, dessen Töchter waren alle "
        "schön. Aber "
        "die jüngste war so schön, dass die Sonne selber, die doch so vieles gesehen hat, sich verwunderte, sooft sie "
        "ihr ins Gesicht schien.",
        # Aesop, Nordwind und Sonne
        "Einst stritten sich Nordwind und Sonne, wer von ihnen beiden wohl der Stärkere wäre, als ein Wanderer, der in "
        "einen warmen Mantel gehüllt war, des Weges daherkam. Der Nordwind blies mit aller Macht, aber je "
        "mehr er blies, "
        "desto fester hüllte sich der Wanderer in seinen Mantel ein. Endlich gab der Nordwind den Kampf auf.",
        # Sprichwörter
        "Morgenstund hat Gold im Mund. Wer zuletzt lacht, lacht am besten. Übung macht den Meister. Aller Anfang ist "
        "schwer. Ende gut, alles gut. Was du heute kannst besorgen, das verschiebe nicht auf morgen.",
        # Friedrich Schiller, An die Freude (1785)
        "Freude, schöner Götterfunken, Tochter aus Elysium, wir betreten feuertrunken, Himmlische, dein Heiligtum!",
    ],
    "fr": [
        # Déclaration des droits de l'homme et du citoyen (1789)
        "Les hommes naissent et demeurent libres et égaux en droits. Les distinctions sociales ne peuvent être fondées "
        "que sur l'utilité commune. Le but de toute association politique est la conservation des droits naturels et "
        "imprescriptibles de l'homme. Ces droits sont la liberté, la propriété, la sûreté, et la résistance à "
        "l'oppression. La liberté consiste à pouvoir faire tout ce qui ne nuit pas à autrui.",
        # Jean de La Fontaine, La Cigale et la Fourmi ; Le Corbeau et le Renard (1668)
        "La Cigale, ayant chanté tout l'été, se trouva fort dépourvue quand la bise fut venue. Pas un seul petit "
        "morceau de mouche ou de vermisseau. Maître Corbeau, sur un arbre perché, tenait en son bec un fromage. Maître "
        "Renard, par l'odeur alléché, lui tint à peu près ce langage. Hé, bonjour, Monsieur du Corbeau! Que vous êtes "
        "joli! Que vous me semblez beau!",
        # Marcel Proust, Du côté de chez Swann (1913)
        "Longtemps, je me suis couché de bonne heure. Parfois, à peine ma bougie éteinte, mes yeux se "
        "fermaient si vite "
        "que je n'avais pas le temps de me dire: je m'endors.",
        # Victor Hugo, Les Misérables (1862)
        "En 1815, M. Charles-François-Bienvenu Myriel était évêque de Digne. C'était un vieillard d'environ "
        "soixante-quinze ans; il occupait le siège de Digne depuis 1806.",
        # René Descartes, Discours de la méthode (1637) ; proverbes
        "Le bon sens est la chose du monde la mieux partagée. Je pense, donc je suis. Petit à petit, l'oiseau fait son "
        "nid. Qui vivra verra. Il ne faut pas vendre la peau de l'ours avant de l'avoir tué.",
        # Victor Hugo, Demain, dès l'aube (1856) ; Rouget de Lisle, La Marseillaise (1792)
        "Demain, dès l'aube, à l'heure où blanchit la campagne, je partirai. Allons enfants de la Patrie, le jour de "
        "gloire est arrivé!",
    ],
    "es": [
        # Miguel de Cervantes, Don Quijote de la Mancha (1605)
        "En un lugar de la Mancha, de cuyo nombre no quiero acordarme, no ha mucho tiempo que vivía un hidalgo de los "
        "de lanza en astillero, adarga antigua, rocín flaco y galgo corredor. Una olla de algo más vaca que carnero, "
        "salpicón las más noches, duelos y quebrantos los sábados, lentejas los viernes, algún palomino de añadidura "
        "los domingos, consumían las tres partes de su hacienda.",
        # Gustavo Adolfo Bécquer, Rima XXI (1871)
        "¿Qué es poesía?, dices mientras clavas en mi pupila tu pupila azul. ¿Qué es poesía? ¿Y tú me lo preguntas? "
        "Poesía eres tú.",
        # Esopo, El viento norte y el sol
        "El viento norte y el sol porfiaban sobre cuál de ellos era el más fuerte, cuando acertó a pasar un viajero "
        "envuelto en ancha capa. Convinieron en que quien antes lograra obligar al viajero a quitarse la capa sería "
        "considerado más poderoso.",
        # Refranes
        "Más vale tarde que nunca. No hay mal que por bien no venga. A quien madruga, Dios le ayuda. Dime con quién "
        "andas y te diré quién eres. En boca cerrada no entran moscas.",
        # Antonio Machado, Campos de Castilla (1912)
        "Caminante, no hay camino, se hace camino al andar.",
    ],
    "it": [
        # Dante Alighieri, Inferno, Canto I
        "Nel mezzo del cammin di nostra vita mi ritrovai per una selva oscura, ché la diritta via era smarrita. Ahi "
        "quanto a dir qual era è cosa dura esta selva selvaggia e aspra e forte che nel pensier rinova la paura!",
        # Carlo Collodi, Le avventure di Pinocchio (1883)
        "C'era una volta un pezzo di legno. Non era un legno di lusso, ma un semplice pezzo da catasta, di quelli che "
        "d'inverno si mettono nelle stufe e nei caminetti per accendere il fuoco e per riscaldare le stanze.",
        # Alessandro Manzoni, I promessi sposi (1840)
        "Quel ramo del lago di Como, che volge a mezzogiorno, tra due catene non interrotte di monti, tutto a seni e a "
        "golfi, vien, quasi a un tratto, a ristringersi, e a prender corso e figura di fiume.",
        # Costituzione della Repubblica Italiana, articoli 1 e 3 (1948)
        "L'Italia è una Repubblica democratica, fondata sul lavoro. La sovranità appartiene al popolo, che la esercita "
        "nelle forme e nei limiti della Costituzione. Tutti i cittadini hanno pari dignità sociale e sono eguali "
        "davanti alla legge.",
        # Proverbi
        "Chi va piano va sano e va lontano. Chi dorme non piglia pesci. Tra il dire e il fare c'è di mezzo il mare. "
        "L'abito non fa il monaco.",
        # Giacomo Leopardi, L'infinito (1819)
        "Sempre caro mi fu quest'ermo colle, e questa siepe, che da tanta parte dell'ultimo orizzonte il guardo "
        "esclude.",
    ],
    "nl": [
        # Multatuli, Max Havelaar (1860)
        "Ik ben makelaar in koffie, en woon op de Lauriergracht, nummer zevenendertig. Het is mijn gewoonte niet, "
        "romans te schrijven, of zulke dingen.",
        # Grondwet voor het Koninkrijk der Nederlanden, artikel 1
        "Allen die zich in Nederland bevinden, worden in gelijke gevallen gelijk behandeld. Discriminatie wegens "
        "godsdienst, levensovertuiging, politieke gezindheid, ras, geslacht of op welke grond dan ook, is niet "
        "toegestaan.",
        # Aesopus, De noordenwind en de zon
        "De noordenwind en de zon waren erover aan het redetwisten wie de sterkste was van hen beiden. Juist op dat "
        "moment kwam er een reiziger aan, die gehuld was in een warme winterjas.",
        # Spreekwoorden
        "Oost west, thuis best. Beter laat dan nooit. Al is de leugen nog zo snel, de waarheid achterhaalt haar wel. "
        "Wie niet waagt, wie niet wint. Wie wat bewaart, die heeft wat. Hoge bomen vangen veel wind.",
        # Het Wilhelmus (c. 1570)
        "Wilhelmus van Nassouwe ben ik, van Duitsen bloed, den vaderland getrouwe blijf ik tot in den dood.",
    ],
    "pt": [
        # Luís de Camões, Os Lusíadas (1572)
        "As armas e os barões assinalados, que da ocidental praia Lusitana, por mares nunca de antes navegados, "
        "passaram ainda além da Taprobana.",
        # Machado de Assis, Dom Casmurro (1899)
        "Uma noite destas, vindo da cidade para o Engenho Novo, encontrei no trem da Central um rapaz aqui do bairro, "
        "que eu conheço de vista e de chapéu. Cumprimentou-me, sentou-se ao pé de mim, falou da Lua e dos ministros, e "
        "acabou recitando-me versos.",
        # Fernando Pessoa, Autopsicografia (1932)
        "O poeta é um fingidor. Finge tão completamente que chega a fingir que é dor a dor que deveras sente.",
        # Provérbios
        "Água mole em pedra dura, tanto bate até que fura. Quem não tem cão, caça com gato. Devagar se vai ao longe.",
        # Gonçalves Dias, Canção do exílio (1843)
        "Minha terra tem palmeiras, onde canta o Sabiá; as aves, que aqui gorjeiam, não gorjeiam como lá.",
    ],
    "pl": [
        # Adam Mickiewicz, Pan Tadeusz (1834)
        "Litwo! Ojczyzno moja! ty jesteś jak zdrowie. Ile cię trzeba cenić, ten tylko się dowie, kto cię stracił. Dziś "
        "piękność twą w całej ozdobie widzę i opisuję, bo tęsknię po tobie.",
        # Henryk Sienkiewicz, Quo vadis (1896)
        "Petroniusz obudził się zaledwie koło południa i jak zwykle zmęczony bardzo.",
        # Przysłowia
        "Gdzie kucharek sześć, tam nie ma co jeść. Nie od razu Kraków zbudowano. Darowanemu koniowi nie zagląda się w "
        "zęby. Lepszy wróbel w garści niż gołąb na dachu. Kto rano wstaje, temu Pan Bóg daje. Jak sobie pościelesz, "
        "tak się wyśpisz. Kto pyta, nie błądzi.",
        # Józef Wybicki, Mazurek Dąbrowskiego (1797)
        "Jeszcze Polska nie zginęła, kiedy my żyjemy. Co nam obca przemoc wzięła, szablą odbierzemy.",
    ],
    "la": [
        # Gaius Iulius Caesar, Commentarii de Bello Gallico
        "Gallia est omnis divisa in partes tres, quarum unam incolunt Belgae, aliam Aquitani, tertiam qui ipsorum "
        "lingua Celtae, nostra Galli appellantur. Hi omnes lingua, institutis, legibus inter se differunt.",
        # Marcus Tullius Cicero, In Catilinam I
        "Quo usque tandem abutere, Catilina, patientia nostra? Quam diu etiam furor iste tuus nos eludet? O tempora, o "
        "mores!",
        # Publius Vergilius Maro, Aeneis I ; sententiae
        "Arma virumque cano, Troiae qui primus ab oris Italiam, fato profugus, Laviniaque venit litora. Carpe diem. "
        "Errare humanum est. Festina lente.",
        # Pater noster
        "Pater noster, qui es in caelis, sanctificetur nomen tuum. Adveniat regnum tuum. Fiat voluntas tua, sicut in "
        "caelo et in terra.",
    ],
    "fi": [
        # Kalevala, ensimmäinen runo (1849)
        "Mieleni minun tekevi, aivoni ajattelevi lähteäni laulamahan, saa'ani sanelemahan, sukuvirttä suoltamahan, "
        "lajivirttä laulamahan. Sanat suussani sulavat, puheet putoelevat, kielelleni kerkiävät, hampahilleni "
        "hajoovat.",
        # Paavo Cajander, Maamme (1889)
        "Oi maamme, Suomi, synnyinmaa, soi, sana kultainen!",
        # Sananlaskuja
        "Ei kukaan ole seppä syntyessään. Hiljaa hyvä tulee. Oma maa mansikka, muu maa mustikka.",
    ],
    # ------------------------------------------------------------------------------------------------------------------
    # Read only by `make-corpus --held-out` (languages the default build never speaks). The passages were written for
    # this project and are dedicated to the public domain (CC0); the proverbs are traditional.
    "sv": [
        "Det var en gång en liten by vid en stor sjö, där vinden alltid kom från norr. Varje morgon gick fiskarna ner "
        "till bryggan innan solen hade stigit över skogen. De talade inte mycket, men de visste precis vad de skulle "
        "göra. När isen lade sig på vintern drog de upp sina båtar på land och lagade näten i ladan. Barnen åkte "
        "skridskor på den svarta isen och lyssnade på hur den sjöng under deras fötter.",
        "Min mormor hade en trädgård full av äppelträd och vinbärsbuskar. På hösten kokade hon sylt i en stor "
        "kopparkastrull, och hela huset doftade sött. Hon sa alltid att man ska plocka bären när de är mörka och "
        "mjuka, men aldrig efter regn. Jag förstod inte varför, men jag lydde henne ändå. I dag har jag en egen "
        "trädgård, och jag plockar fortfarande aldrig bär efter regn.",
        "Tåget till Göteborg var försenat i nästan en timme. Resenärerna satt tysta på perrongen och tittade på "
        "klockan. En gammal man delade sitt kaffe med en ung kvinna som frös. De började prata om vädret, om arbete "
        "och om städer de hade besökt. När tåget äntligen kom hade de blivit vänner, och de satt bredvid varandra hela "
        "vägen.",
        "Hösten kom tidigt det året. Löven på björkarna blev gula redan i augusti, och tranorna flög söderut i långa "
        "rader. Vi eldade i kaminen varje kväll och läste högt för varandra medan regnet smattrade mot rutorna. Ingen "
        "av oss saknade sommaren, för hösten hade sin egen stilla skönhet.",
        # Ordspråk
        "Borta bra, men hemma bäst. Lagom är bäst. Den som gräver en grop åt andra faller själv däri. Bättre sent än "
        "aldrig. Man ska inte sälja skinnet förrän björnen är skjuten.",
    ],
    "cs": [
        "Na kraji lesa stála malá dřevěná chaloupka. Bydlel v ní starý mlynář se svou ženou a třemi dětmi. Každé ráno "
        "vstával před svítáním, zatopil v kamnech a šel se podívat k řece, jestli voda ještě teče. Když přišlo jaro, "
        "řeka se rozvodnila a mlýnské kolo se točilo rychleji než kdy jindy. Děti běhaly po louce, sbíraly kvítí a "
        "zpívaly písničky, které je naučila babička.",
        "Praha je město mnoha mostů a věží. Večer, když se rozsvítí lampy, se Vltava leskne jako stříbro. Turisté "
        "stojí na Karlově mostě a fotografují hrad, zatímco místní lidé spěchají z práce domů. V malé kavárně u "
        "náměstí sedí student a čte knihu o historii. Venku začíná pršet, ale jemu to nevadí, protože má horký čaj a "
        "dobrou knihu.",
        "Můj děda říkal, že nejlepší chleba je ten, který si člověk upeče sám. Každou sobotu jsme spolu míchali mouku, "
        "vodu, sůl a kvásek. Těsto pak celou noc odpočívalo pod utěrkou. Ráno jsme ho vložili do pece a čekali, až "
        "celý dům provoní. Ten chléb byl zvenku tvrdý a uvnitř měkký, a nikdy jsem nejedl nic lepšího.",
        "Na podzim jsme chodili do lesa na houby. Vycházeli jsme brzy ráno, když byla tráva ještě mokrá od rosy. Táta "
        "znal každou cestu a každý strom, a vždycky věděl, kde rostou ty nejkrásnější hřiby. Domů jsme se vraceli "
        "unavení, ale šťastní, s plnými košíky a s hlavou plnou příběhů.",
        # Přísloví
        "Bez práce nejsou koláče. Kdo jinému jámu kopá, sám do ní padá. Ranní ptáče dál doskáče. Komu se nelení, "
        "tomu se zelení. Tichá voda břehy mele.",
    ],
    "ro": [
        "A fost odată un cioban care își păzea oile pe un deal înalt, departe de sat. În fiecare seară aprindea un foc "
        "mic și cânta din fluier până când stelele apăreau pe cer. Oile se adunau în jurul lui și ascultau în liniște. "
        "Într-o noapte a auzit pași în pădure și s-a ridicat speriat. Dar nu era un lup, ci doar un copil rătăcit "
        "care căuta drumul spre casă.",
        "Bunica mea locuia într-o casă albă cu flori la ferestre. Vara, curtea era plină de găini, de pisici și de "
        "copii care se jucau până la apus. Ea făcea cele mai bune plăcinte cu brânză din tot satul. Când veneam în "
        "vizită, mă aștepta la poartă cu brațele deschise și cu un zâmbet cald. Și acum, după mulți ani, îmi amintesc "
        "mirosul bucătăriei ei.",
        "Orașul se trezește devreme. Pe străzi trec tramvaie, biciclete și oameni grăbiți spre birou. La piață, "
        "vânzătorii aranjează roșii, castraveți și mere în lăzi de lemn. Un bătrân citește ziarul pe o bancă din "
        "parc, iar porumbeii se plimbă în jurul lui. Soarele urcă încet deasupra blocurilor, și ziua începe ca "
        "oricare alta.",
        "Toamna, dealurile se îmbracă în galben și roșu. Țăranii culeg strugurii din vie și îi duc în coșuri mari la "
        "teasc. Copiii aleargă printre rânduri și gustă din boabele cele mai dulci. Seara, toată familia se adună la "
        "masă, iar bunicul povestește despre toamnele de altădată, când iarna venea mai devreme.",
        # Proverbe
        "Cine se scoală de dimineață departe ajunge. Graba strică treaba. Ai carte, ai parte. Vorba dulce mult aduce. "
        "Ce ție nu-ți place, altuia nu-i face.",
    ],
    "id": [
        "Pada suatu pagi yang cerah, seorang nelayan tua berjalan ke pantai dengan membawa jala dan sebuah keranjang. "
        "Laut masih tenang dan angin bertiup pelan dari arah timur. Dia mendorong perahunya ke air dan mulai mendayung "
        "ke tengah laut. Burung-burung camar terbang rendah di atas ombak, mencari ikan kecil. Ketika matahari sudah "
        "tinggi, keranjangnya sudah penuh, dan dia pulang dengan hati gembira.",
        "Kota itu selalu ramai pada sore hari. Para pedagang menjual nasi goreng, sate, dan martabak di pinggir jalan. "
        "Anak-anak sekolah berjalan pulang sambil tertawa dan bercerita. Di sebuah warung kecil, seorang ibu "
        "menuangkan teh manis untuk para tamunya. Hujan turun dengan tiba-tiba, dan semua orang berlari mencari tempat "
        "berteduh.",
        "Kakek saya adalah seorang petani padi di sebuah desa di kaki gunung. Setiap hari dia bangun sebelum subuh dan "
        "pergi ke sawah. Dia mengajari saya cara menanam bibit, cara mengatur air, dan cara membaca tanda-tanda cuaca. "
        "Menurut dia, tanah yang dirawat dengan sabar akan memberi hasil yang baik. Sampai sekarang saya masih ingat "
        "nasihatnya.",
        "Di musim hujan, sungai di belakang rumah kami menjadi lebar dan deras. Ibu melarang kami bermain di tepi "
        "sungai, jadi kami bermain di teras sambil mendengarkan suara hujan di atap seng. Kadang-kadang ayah pulang "
        "membawa pisang goreng yang masih hangat, dan kami makan bersama sambil menunggu hujan reda.",
        # Peribahasa
        "Sedikit demi sedikit, lama-lama menjadi bukit. Air beriak tanda tak dalam. Bersatu kita teguh, bercerai kita "
        "runtuh. Di mana bumi dipijak, di situ langit dijunjung.",
    ],
}


__all__ = ["TEXTS"]
